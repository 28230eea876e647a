"""Shared dependencies: the running hub and the label store, from the lifespan's typed state."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from alerts.labels import SampleStore
from api.hubview import HubView


def get_hub(request: Request) -> HubView:
    """The hub the lifespan started (tests swap it with `dependency_overrides`)."""
    hub: HubView = request.state.hub
    return hub


HubDep = Annotated[HubView, Depends(get_hub)]


def get_samples(request: Request) -> SampleStore:
    """The site's label store (`<data_dir>/labels`), made in the lifespan."""
    samples: SampleStore = request.state.labels
    return samples


SamplesDep = Annotated[SampleStore, Depends(get_samples)]
