"""Shared dependencies: the running hub, taken from the lifespan's typed state."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from api.hubview import HubView


def get_hub(request: Request) -> HubView:
    """The hub the lifespan started (tests swap it with `dependency_overrides`)."""
    hub: HubView = request.state.hub
    return hub


HubDep = Annotated[HubView, Depends(get_hub)]
