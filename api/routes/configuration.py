"""The configuration in the browser: cameras, their zones, masks and tripwires, and the groups,
changed by an admin and run at once by every hub, without a restart.

Each change becomes a new version in the database (`hub/config_store.py`), validated by the
rules `check-config` uses: a refused change answers 422 with each problem at its field
(`loc` inside the camera, as FastAPI's own validation does) and changes nothing. A change made
from an older copy of a camera than the stored one answers 409 naming who changed it. URLs are
shown redacted; sent back unchanged they keep the stored ones (`riverwatch/config_edit.py`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field

from api.deps import HubDep
from api.security.deps import AUTH_RESPONSES, Admin, AuditDep
from riverwatch.config import CameraConfig
from riverwatch.config_edit import (
    GROUPS,
    Applied,
    CameraChange,
    EditConflict,
    EditRefused,
    NoRoom,
    Stamp,
    UnknownTarget,
    shown_camera,
)
from riverwatch.secrets import redact_url

router = APIRouter(prefix="/api/config", tags=["configuration"], responses=AUTH_RESPONSES)

_ERR = {"application/json": {"example": {"detail": "camera 'jinsha-001' was changed by li"}}}
_PROBLEMS = {
    "application/json": {
        "example": {
            "detail": [
                {
                    "loc": ["body", "camera", "zones", 0, "polygon"],
                    "msg": "List should have at least 3 items after validation, not 2",
                    "type": "config",
                }
            ]
        }
    }
}
_CHANGE_ANSWERS: dict[int | str, dict[str, Any]] = {
    404: {"description": "no such camera", "content": _ERR},
    409: {"description": "changed by someone else meanwhile, or no room", "content": _ERR},
    422: {"description": "the configuration rules refuse it; each problem at its field",
          "content": _PROBLEMS},
}  # fmt: skip
_CAMERA: Any = {
    "id": "jinsha-001",
    "name": "Jinsha bridge east",
    "group": "jinsha",
    "url": "rtsp://${JINSHA_USER}:${JINSHA_PASS}@10.20.1.11:554/Streaming/Channels/101",
    "zones": [{"id": "ban", "kind": "no_fishing", "severity": "high",
               "polygon": [[0.1, 0.5], [0.9, 0.5], [0.9, 0.95], [0.1, 0.95]]}],
    "tripwires": [{"id": "gate", "line": [[0.5, 0.3], [0.5, 0.95]], "direction": "a_to_b"}],
}  # fmt: skip


class CameraEntry(BaseModel):
    """A camera as configured (URLs redacted) and the version that last changed it."""

    camera: dict[str, Any]
    version: int = Field(description="send it back as `expected_version` with a change")
    changed_by: str
    changed_at: float


class ConfigOut(BaseModel):
    """The version the hub runs, its groups and cameras."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "version": 12, "author": "chief", "created_at": 1765000000.0,
        "groups": [{"id": "jinsha", "name": "Jinsha river", "kind": "river", "main_ring": None}],
        "groups_version": 3,
        "cameras": [{"camera": _CAMERA, "version": 9, "changed_by": "chief",
                     "changed_at": 1765000000.0}]}]})  # fmt: skip

    version: int
    author: str
    created_at: float
    groups: list[dict[str, Any]]
    groups_version: int = Field(description="the version that last changed the groups")
    cameras: list[CameraEntry]


class AppliedOut(BaseModel):
    """What the change did on this hub (the others follow within seconds)."""

    added: list[str]
    removed: list[str]
    restarted: list[str] = Field(description="their stream changed: sessions opened again")
    rezoned: list[str] = Field(description="zones, tripwires or analysis: at the next tick")


class ChangedOut(BaseModel):
    """The new version, the camera as stored (none for a deletion), and what was applied."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "version": 13,
        "camera": {"camera": _CAMERA, "version": 13, "changed_by": "chief",
                   "changed_at": 1765000000.0},
        "applied": {"added": ["jinsha-001"], "removed": [], "restarted": [],
                    "rezoned": []}}]})  # fmt: skip

    version: int
    camera: CameraEntry | None = None
    applied: AppliedOut


class CameraIn(BaseModel):
    """A new camera, whole."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"camera": _CAMERA}]})

    camera: dict[str, Any] = Field(description="as in the YAML's `cameras:` list")


class CameraPut(BaseModel):
    """A camera's new settings, whole, and the version of it they were made from."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"expected_version": 9, "camera": _CAMERA}]},
    )

    expected_version: int = Field(ge=0)
    camera: dict[str, Any]


class GroupsPut(BaseModel):
    """The whole list of groups, and the version that last changed them (`groups_version`)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "expected_version": 12,
        "groups": [{"id": "jinsha", "name": "Jinsha river", "kind": "river"}]}]})  # fmt: skip

    expected_version: int = Field(ge=0)
    groups: list[dict[str, Any]] = Field(max_length=500)


class VersionOut(BaseModel):
    """A stored version."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"version": 12, "author": "chief", "created_at": 1765000000.0}]})  # fmt: skip

    version: int
    author: str
    created_at: float


_CameraId = Annotated[str, Path(max_length=64)]


@router.get("", summary="The configuration this hub runs")
async def current(_: Admin, hub: HubDep) -> ConfigOut:
    """Groups and cameras of the running version, each camera with its stamp."""
    snapshot, config = hub.config_snapshot()
    return ConfigOut(
        version=snapshot.number,
        author=snapshot.author,
        created_at=snapshot.created_at,
        groups=[g.model_dump(mode="json") for g in config.groups],
        groups_version=_stamp_version(snapshot.stamps.get(GROUPS)),
        cameras=[_entry(c, snapshot.stamps.get(c.id)) for c in config.cameras],
    )


@router.get(
    "/export",
    summary="The configuration as YAML",
    response_class=PlainTextResponse,  # YAML, sent as text: a browser shows it, curl saves it
    responses={200: {"content": {"text/plain": {"example": "cameras:\n- id: jinsha-001\n"}}}},
)
async def export(_: Admin, hub: HubDep) -> PlainTextResponse:
    """The running version's YAML, `${NAME}` placeholders kept and any password written
    into it masked: feed it to `check-config`, or keep it under version control."""
    snapshot, _config = hub.config_snapshot()
    name = f"riverwatch-config-v{snapshot.number}.yaml"
    return PlainTextResponse(
        hub.config_export(),
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/versions", summary="The stored versions")
async def versions(
    _: Admin, hub: HubDep, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> list[VersionOut]:
    """The newest first: who made each, and when (imports from a file name the file)."""
    return [
        VersionOut(version=v.number, author=v.author, created_at=v.created_at)
        for v in await hub.config_history(limit)
    ]


@router.post("/cameras", status_code=201, summary="Add a camera", responses=_CHANGE_ANSWERS)
async def add_camera(body: CameraIn, user: Admin, hub: HubDep, audit: AuditDep) -> ChangedOut:
    """Add a camera; it starts streaming at once on a spare row."""
    camera_id = str(body.camera.get("id", ""))
    change = CameraChange("add", camera_id, body.camera)
    return await _change(hub, change, user.username, audit, "camera.add")


@router.put("/cameras/{camera_id}", summary="Change a camera", responses=_CHANGE_ANSWERS)
async def put_camera(
    camera_id: _CameraId, body: CameraPut, user: Admin, hub: HubDep, audit: AuditDep
) -> ChangedOut:
    """Replace a camera's settings: its stream restarts only if its stream changed; zones,
    masks and tripwires swap in at the next tick."""
    change = CameraChange("put", camera_id, body.camera, body.expected_version)
    return await _change(hub, change, user.username, audit, "camera.edit")


@router.delete("/cameras/{camera_id}", summary="Delete a camera", responses=_CHANGE_ANSWERS)
async def delete_camera(
    camera_id: _CameraId,
    user: Admin,
    hub: HubDep,
    audit: AuditDep,
    expected_version: Annotated[int, Query(ge=0)],
) -> ChangedOut:
    """Stop a camera and remove it; its open incidents end."""
    change = CameraChange("delete", camera_id, None, expected_version)
    return await _change(hub, change, user.username, audit, "camera.delete")


@router.put("/groups", summary="Change the groups", responses=_CHANGE_ANSWERS)
async def put_groups(body: GroupsPut, user: Admin, hub: HubDep, audit: AuditDep) -> ChangedOut:
    """Replace the list of groups (every camera's group must stay declared)."""
    change = CameraChange("groups", GROUPS, body.groups, body.expected_version)
    return await _change(hub, change, user.username, audit, "groups.edit")


async def _change(
    hub: HubDep, change: CameraChange, author: str, audit: AuditDep, action: str
) -> ChangedOut:
    try:
        number, applied = await hub.edit_config(change, author)
    except UnknownTarget:
        raise HTTPException(404, f"no camera {change.camera_id!r}") from None
    except (EditConflict, NoRoom) as exc:
        raise HTTPException(409, str(exc)) from None
    except EditRefused as exc:
        raise HTTPException(422, _problems(exc)) from None
    target = change.camera_id or "groups"
    await audit.record(action, target, {"version": number, **_detail(change)})
    snapshot, config = hub.config_snapshot()
    camera = next((c for c in config.cameras if c.id == change.camera_id), None)
    entry = _entry(camera, snapshot.stamps.get(camera.id)) if camera is not None else None
    return ChangedOut(version=number, camera=entry, applied=_applied(applied))


def _problems(exc: EditRefused) -> list[dict[str, Any]]:
    where = ["body", "camera"] if exc.target == "camera" else ["body"]
    return [
        {"loc": [*where, *loc] if loc else ["body"], "msg": msg, "type": "config"}
        for loc, msg in exc.fields
    ]


def _detail(change: CameraChange) -> dict[str, Any]:
    """What the audit log keeps: counts and the redacted URL, never a password."""
    payload = change.payload
    if not isinstance(payload, dict):
        return {"groups": len(payload)} if isinstance(payload, list) else {}
    url = payload.get("url")
    return {
        "url": redact_url(url) if isinstance(url, str) else None,
        "zones": len(payload.get("zones") or []),
        "tripwires": len(payload.get("tripwires") or []),
    }


def _stamp_version(stamp: Stamp | None) -> int:
    return stamp.version if stamp is not None else 0


def _entry(camera: CameraConfig, stamp: Stamp | None) -> CameraEntry:
    return CameraEntry(
        camera=shown_camera(camera),
        version=_stamp_version(stamp),
        changed_by=stamp.by if stamp is not None else "",
        changed_at=stamp.at if stamp is not None else 0.0,
    )


def _applied(applied: Applied) -> AppliedOut:
    return AppliedOut(
        added=list(applied.added),
        removed=list(applied.removed),
        restarted=list(applied.restarted),
        rezoned=list(applied.rezoned),
    )
