"""The composition root: the running hub (`Hub`), its incident desk and the command line.

This is the one package that imports the stages (`ingest`, `detectors`, `alerts`, `api`) and
wires them together; nothing imports it. The layers are written down as import-linter
contracts in `pyproject.toml`.
"""

from hub.runtime import Hub

__all__ = ["Hub"]
