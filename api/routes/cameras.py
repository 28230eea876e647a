"""Cameras: list, one camera, and switching a camera's decode mode."""

from fastapi import APIRouter, HTTPException, Query

from api.deps import HubDep
from api.schemas import CameraOut, DecodeModeIn
from riverwatch.hubview import UnknownCamera

router = APIRouter(prefix="/api/cameras", tags=["cameras"])


@router.get("")
async def list_cameras(
    hub: HubDep, group: str | None = Query(default=None, max_length=64)
) -> list[CameraOut]:
    """Every camera with its state and health figures, optionally of one group."""
    return [CameraOut.of(c) for c in hub.cameras() if group is None or c.group == group]


@router.get("/{camera_id}", responses={404: {"description": "no such camera"}})
async def get_camera(camera_id: str, hub: HubDep) -> CameraOut:
    """One camera."""
    try:
        return CameraOut.of(hub.camera(camera_id))
    except UnknownCamera:
        raise HTTPException(404, f"no camera with id {camera_id!r}") from None


@router.put("/{camera_id}/decode-mode", responses={404: {"description": "no such camera"}})
async def set_decode_mode(camera_id: str, body: DecodeModeIn, hub: HubDep) -> CameraOut:
    """Switch between keyframes-only and full-rate decoding while the camera runs."""
    try:
        hub.set_decode_mode(camera_id, body.mode)
        return CameraOut.of(hub.camera(camera_id))
    except UnknownCamera:
        raise HTTPException(404, f"no camera with id {camera_id!r}") from None
