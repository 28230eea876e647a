"""An admin's "test this URL": what a camera's stream sends before it is added (codec,
resolution, frame rate, the GOP measured, audio, timestamp problems) and its first picture,
never its credentials (`ingest/probe.py`)."""

from __future__ import annotations

import base64
from urllib.parse import urlsplit

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from api.deps import HubDep
from api.hubview import UnknownCamera
from api.security.deps import AUTH_RESPONSES, Admin, AuditDep
from riverwatch.secrets import redact_url

router = APIRouter(prefix="/api/probe", tags=["cameras"], responses=AUTH_RESPONSES)

_SCHEMES = ("rtsp", "rtsps", "http", "https", "file")


class ProbeIn(BaseModel):
    """The stream to test."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"url": "rtsp://viewer:secret@10.20.1.31:554/Streaming/Channels/102"}]})  # fmt: skip

    url: str | None = Field(default=None, max_length=2000)
    camera_id: str | None = Field(
        default=None, max_length=64, description="a configured camera: its stored URL is tested"
    )
    seconds: float = Field(default=8.0, gt=0, le=30)

    @field_validator("url")
    @classmethod
    def _scheme(cls, url: str | None) -> str | None:
        if url is not None and urlsplit(url).scheme not in _SCHEMES:
            raise ValueError(f"url: want one of {', '.join(s + '://' for s in _SCHEMES)}")
        return url

    @model_validator(mode="after")
    def _one_target(self) -> ProbeIn:
        if (self.url is None) == (self.camera_id is None):
            raise ValueError("give either `url` or `camera_id`")
        return self


class ProbeOut(BaseModel):
    """What the stream sent; `ok` false with `error` when it could not be read."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "url": "rtsp://***@10.20.1.31:554/Streaming/Channels/102", "ok": True, "error": None,
        "codec": "h264", "width": 640, "height": 360, "fps": 15.0, "kbps": 480.0,
        "gop_s": [2.0, 2.0], "bframes": False, "audio": "aac 16000 Hz 1 ch", "problems": [],
        "snapshot": "data:image/jpeg;base64,/9j/4AAQ..."}]})  # fmt: skip

    url: str
    ok: bool
    error: str | None
    codec: str | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    kbps: float | None = None
    gop_s: list[float] = Field(default_factory=list)
    bframes: bool | None = None
    audio: str | None = None
    problems: list[str] = Field(default_factory=list)
    snapshot: str | None = None  # a data: URL of the first picture


@router.post(
    "",
    summary="Test a stream URL",
    responses={404: {"description": "no such camera",
                     "content": {"application/json": {"example": {"detail": "no camera 'x'"}}}}},
)  # fmt: skip
async def probe(body: ProbeIn, _: Admin, hub: HubDep, audit: AuditDep) -> ProbeOut:
    """Open the stream as the hub would (a URL, or a configured camera's stored one), read it
    for up to `seconds`, and say what it sends."""
    if body.camera_id is not None:
        try:
            report = await hub.probe_camera(body.camera_id)
        except UnknownCamera:
            raise HTTPException(404, f"no camera {body.camera_id!r}") from None
        target = f"camera {body.camera_id}"
    else:
        assert body.url is not None
        report = await hub.probe(body.url)
        target = redact_url(body.url)
    await audit.record("camera.probe", target, {"ok": report.ok})
    out = ProbeOut(url=report.url, ok=report.ok, error=report.error)
    if report.video is not None:
        v = report.video
        out = out.model_copy(update={
            "codec": v.codec, "width": v.width, "height": v.height, "fps": v.fps,
            "kbps": v.kbps, "gop_s": list(v.gop_intervals_s), "bframes": v.bframes})  # fmt: skip
    if report.audio is not None:
        a = report.audio
        out.audio = f"{a.codec} {a.sample_rate} Hz {a.channels} ch"
    if report.timestamps is not None:
        out.problems = list(report.timestamps.problems)
    if report.snapshot_jpeg is not None:
        out.snapshot = "data:image/jpeg;base64," + base64.b64encode(report.snapshot_jpeg).decode()
    return out
