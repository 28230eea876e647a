"""Suppression windows: an operator mutes a camera (or one zone or rule of it) for a while."""

from __future__ import annotations

import time

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field

from alerts import SuppressionError, SuppressionWindow
from api.deps import HubDep
from riverwatch.hubview import UnknownCamera

router = APIRouter(prefix="/api/suppressions", tags=["suppressions"])

_MAX_SPAN_S = 30 * 86_400.0


class SuppressionIn(BaseModel):
    """A new window; `start` defaults to now. Spans are capped at 30 days."""

    camera_id: str = Field(min_length=1, max_length=100)
    zone_id: str | None = Field(default=None, max_length=100)
    rule: str | None = Field(default=None, max_length=50)
    start: float | None = Field(default=None, ge=0)
    end: float = Field(gt=0)
    reason: str = Field(min_length=1, max_length=500)
    created_by: str = Field(min_length=1, max_length=100)


@router.get("")
async def list_windows(hub: HubDep) -> list[SuppressionWindow]:
    """Windows not yet over, soonest end first."""
    return hub.suppressions().active(time.time())


@router.post("", status_code=201, responses={404: {}, 422: {"description": "bad window"}})
async def add_window(hub: HubDep, body: SuppressionIn) -> SuppressionWindow:
    """Mute alerts matching the window from `start` to `end`."""
    try:
        hub.camera(body.camera_id)
    except UnknownCamera:
        raise HTTPException(404, f"no camera {body.camera_id!r}") from None
    now = time.time()
    start = body.start if body.start is not None else now
    if body.end - start > _MAX_SPAN_S:
        raise HTTPException(422, "a suppression window may last at most 30 days")
    try:
        return hub.suppressions().add(
            body.camera_id, start, body.end, body.reason, body.created_by,
            body.zone_id, body.rule, now=now,
        )  # fmt: skip
    except SuppressionError as exc:
        raise HTTPException(422, str(exc)) from None


@router.delete("/{window_id}", status_code=204, responses={404: {}})
async def end_window(hub: HubDep, window_id: str) -> None:
    """End a window early."""
    try:
        removed = hub.suppressions().remove(window_id)
    except SuppressionError as exc:
        raise HTTPException(503, str(exc)) from None
    if not removed:
        raise HTTPException(404, f"no suppression window {window_id!r}")
