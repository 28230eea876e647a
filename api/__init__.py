"""API: the hub's HTTP face. Public surface: `create_app`."""

from api.app import create_app

__all__ = ["create_app"]
