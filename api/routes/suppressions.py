"""Suppression windows: an operator mutes a camera (or one zone or rule of it) for a while."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path
from pydantic import BaseModel, ConfigDict, Field

from alerts import SuppressionError, SuppressionWindow
from api.deps import HubDep
from api.hubview import UnknownCamera
from api.security.deps import AUTH_RESPONSES, AuditDep, Operator

router = APIRouter(prefix="/api/suppressions", tags=["suppressions"], responses=AUTH_RESPONSES)

_MAX_SPAN_S = 30 * 86_400.0


_WINDOW_EXAMPLE = {
    "window_id": "6f1c2a", "camera_id": "heng-004", "start": 1767225600.0, "end": 1767232800.0,
    "reason": "bridge works: barges expected", "created_by": "zhou.min", "zone_id": None,
    "rule": "vessel_in_zone",
}  # fmt: skip
_ERR = {"application/json": {"example": {"detail": "a message saying what was wrong"}}}


class SuppressionIn(BaseModel):
    """A new window; `start` defaults to now. Spans are capped at 30 days. The window's
    `created_by` is the signed-in user (the field is accepted and ignored)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "camera_id": "heng-004",
                    "rule": "vessel_in_zone",
                    "end": 1767232800.0,
                    "reason": "bridge works: barges expected",
                }  # fmt: skip
            ]
        }
    )

    camera_id: str = Field(min_length=1, max_length=100)
    zone_id: str | None = Field(default=None, max_length=100)
    rule: str | None = Field(default=None, max_length=50)
    start: float | None = Field(default=None, ge=0, le=1e11)
    end: float = Field(gt=0, le=1e11)
    reason: str = Field(min_length=1, max_length=500)
    created_by: str | None = Field(default=None, max_length=100, deprecated=True)


@router.get(
    "",
    summary="Active suppression windows",
    responses={200: {"content": {"application/json": {"example": [_WINDOW_EXAMPLE]}}}},
)
async def list_windows(_: Operator, hub: HubDep) -> list[SuppressionWindow]:
    """Windows not yet over, soonest end first."""
    return hub.suppressions().active(time.time())


@router.post(
    "",
    status_code=201,
    summary="Mute a camera for a while",
    responses={
        201: {"content": {"application/json": {"example": _WINDOW_EXAMPLE}}},
        404: {"description": "no such camera", "content": _ERR},
        422: {"description": "bad window", "content": _ERR},
    },
)
async def add_window(
    user: Operator, hub: HubDep, trail: AuditDep, body: SuppressionIn
) -> SuppressionWindow:
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
        # It fsyncs the windows' file: off the event loop, or every camera's alerts would wait.
        window = await asyncio.to_thread(
            hub.suppressions().add,
            body.camera_id, start, body.end, body.reason, user.username,
            body.zone_id, body.rule, now=now,
        )  # fmt: skip
    except SuppressionError as exc:
        raise HTTPException(422, str(exc)) from None
    detail = {"camera_id": window.camera_id, "zone_id": window.zone_id, "rule": window.rule,
              "start": window.start, "end": window.end, "reason": window.reason}  # fmt: skip
    await trail.record("suppression.add", f"suppression:{window.window_id}", detail)
    return window


@router.delete(
    "/{window_id}",
    status_code=204,
    summary="End a suppression window early",
    responses={
        404: {"description": "no such window", "content": _ERR},
        503: {"description": "the windows could not be saved", "content": _ERR},
    },
)
async def end_window(
    _: Operator, hub: HubDep, trail: AuditDep, window_id: Annotated[str, Path(max_length=100)]
) -> None:
    """End a window early."""
    try:
        removed = await asyncio.to_thread(hub.suppressions().remove, window_id)
    except SuppressionError as exc:
        raise HTTPException(503, str(exc)) from None
    if not removed:
        raise HTTPException(404, f"no suppression window {window_id!r}")
    await trail.record("suppression.end", f"suppression:{window_id}")
