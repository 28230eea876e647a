"""Profiles ("night", "flood season", "holiday"): which are on, and switching them by hand
without a restart (`alerts/profiles.py`). A hand switch holds until it is set back to the
schedule; every hub follows it."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path
from pydantic import BaseModel, ConfigDict, Field
from redis.exceptions import RedisError

from alerts.profiles import ProfileState
from api.deps import HubDep
from api.security.deps import AUTH_RESPONSES, AuditDep, CameraReader, Operator

router = APIRouter(prefix="/api/profiles", tags=["profiles"], responses=AUTH_RESPONSES)

_ERR = {"application/json": {"example": {"detail": "no profile 'nite'"}}}


class ProfileOut(BaseModel):
    """A profile, whether it is on, and why."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"id": "night", "name": "Night", "active": True, "scheduled": True, "manual": None}
            ]
        }
    )

    id: str
    name: str
    active: bool
    scheduled: bool = Field(description="its schedule says on now")
    manual: Literal["on", "off"] | None = Field(description="a hand switch; null: schedule")


class SwitchIn(BaseModel):
    """On or off by hand, or back to its schedule."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"state": "on"}]})

    state: Literal["on", "off", "schedule"]


def _out(state: ProfileState) -> ProfileOut:
    manual: Literal["on", "off"] | None = None
    if state.manual is not None:
        manual = "on" if state.manual else "off"
    return ProfileOut(id=state.id, name=state.name, active=state.active,
                      scheduled=state.scheduled, manual=manual)  # fmt: skip


@router.get("", summary="The profiles and which are on")
async def profiles(_: CameraReader, hub: HubDep) -> list[ProfileOut]:
    """Every profile in config order, on or off, by schedule or by hand."""
    return [_out(s) for s in hub.profiles().states()]


@router.put(
    "/{profile_id}",
    summary="Switch a profile by hand",
    responses={
        404: {"description": "no such profile", "content": _ERR},
        503: {"description": "Redis does not answer: the switch is not shared", "content": _ERR},
    },
)
async def switch(
    body: SwitchIn,
    user: Operator,
    hub: HubDep,
    audit: AuditDep,
    profile_id: Annotated[str, Path(max_length=64)],
) -> ProfileOut:
    """Switch on or off until set back to `schedule`; new incidents follow it at once."""
    if profile_id not in hub.profiles().ids:
        raise HTTPException(404, f"no profile {profile_id!r}")
    on = None if body.state == "schedule" else body.state == "on"
    try:
        await hub.switch_profile(profile_id, on)
    except (RedisError, OSError, TimeoutError):
        raise HTTPException(503, "Redis does not answer: the switch was not made") from None
    await audit.record("profile.switch", profile_id, {"state": body.state})
    return next(_out(s) for s in hub.profiles().states() if s.id == profile_id)
