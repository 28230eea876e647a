"""Cameras: list, one camera, and switching a camera's decode mode."""

from fastapi import APIRouter, HTTPException, Query

from api.deps import HubDep
from api.hubview import UnknownCamera
from api.schemas import CameraOut, DecodeModeIn
from api.security.deps import AUTH_RESPONSES, AuditDep, CameraReader, Operator, error, ok

router = APIRouter(prefix="/api/cameras", tags=["cameras"], responses=AUTH_RESPONSES)

CAMERA_EXAMPLE = {
    "id": "jinsha-001",
    "name": "Jinsha pier north",
    "group": "jinsha",
    "state": "streaming",
    "stream": "rtsp://***@10.20.1.11:554/Streaming/Channels/101",
    "health": {
        "state_age_s": 3620.4, "decode_mode": "keyframes", "input_fps": 15.0,
        "analysed_fps": 0.5, "analysed_frames": 1810, "kbps": 812.0, "last_frame_age_s": 0.1,
        "reconnects": 0, "stalls": 0, "decode_errors": 0, "dropped_frames": 0, "width": 640,
        "height": 360, "codec": "h264", "last_error": None,
    },
}  # fmt: skip
_NOT_FOUND = error(404, "no such camera", "no camera with id 'x'")


@router.get("", summary="List cameras", responses=ok([CAMERA_EXAMPLE]))
async def list_cameras(
    _: CameraReader, hub: HubDep, group: str | None = Query(default=None, max_length=64)
) -> list[CameraOut]:
    """Every camera with its state and health figures, optionally of one group."""
    return [CameraOut.of(c) for c in hub.cameras() if group is None or c.group == group]


@router.get("/{camera_id}", summary="One camera", responses=ok(CAMERA_EXAMPLE) | _NOT_FOUND)
async def get_camera(camera_id: str, _: CameraReader, hub: HubDep) -> CameraOut:
    """One camera with its state and health figures."""
    try:
        return CameraOut.of(hub.camera(camera_id))
    except UnknownCamera:
        raise HTTPException(404, f"no camera with id {camera_id[:64]!r}") from None


@router.put(
    "/{camera_id}/decode-mode",
    summary="Switch a camera's decode mode",
    responses=ok(CAMERA_EXAMPLE) | _NOT_FOUND,
    openapi_extra={"requestBody": {"content": {"application/json": {"example": {"mode": "full"}}}}},
)
async def set_decode_mode(
    camera_id: str, body: DecodeModeIn, _: Operator, hub: HubDep, trail: AuditDep
) -> CameraOut:
    """Switch between keyframes-only and full-rate decoding while the camera runs."""
    try:
        hub.set_decode_mode(camera_id, body.mode)
        camera = CameraOut.of(hub.camera(camera_id))
    except UnknownCamera:
        raise HTTPException(404, f"no camera with id {camera_id[:64]!r}") from None
    await trail.record("camera.decode_mode", f"camera:{camera_id}", {"mode": body.mode.value})
    return camera


@router.post(
    "/{camera_id}/reconnect",
    summary="Reconnect a camera",
    responses=ok(CAMERA_EXAMPLE) | _NOT_FOUND,
)
async def reconnect(camera_id: str, _: Operator, hub: HubDep, trail: AuditDep) -> CameraOut:
    """Close the camera's stream(s) and open them again (after a camera was reconfigured or
    rebooted into another codec); it shows `backing_off`, "reconnect asked", for a moment."""
    try:
        hub.reconnect(camera_id)
        camera = CameraOut.of(hub.camera(camera_id))
    except UnknownCamera:
        raise HTTPException(404, f"no camera with id {camera_id[:64]!r}") from None
    await trail.record("camera.reconnect", f"camera:{camera_id}", {})
    return camera
