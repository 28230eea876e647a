"""JSON shapes of the API's answers."""

from __future__ import annotations

from pydantic import BaseModel, Field

from alerts.tickets import AttachmentRecord, Ticket, TransitionRecord
from riverwatch.types import (
    Alert,
    AlertPhase,
    CameraInfo,
    CameraState,
    DecodeMode,
    MainRing,
    MainStreamInfo,
    Severity,
)


class HealthOut(BaseModel):
    """Per-camera ingest figures."""

    state_age_s: float
    decode_mode: DecodeMode
    input_fps: float
    analysed_fps: float
    analysed_frames: int
    kbps: float
    last_frame_age_s: float | None
    reconnects: int
    stalls: int
    decode_errors: int
    dropped_frames: int
    width: int | None
    height: int | None
    codec: str | None
    last_error: str | None
    reason: str = ""
    no_frame_reopens: int = 0
    gop_s: float | None = Field(
        default=None, description="keyframe interval, measured: the longest of the last 8"
    )
    analysis_interval_s: float | None = Field(
        default=None, description="seconds between analysed frames, measured (1 / analysed_fps)"
    )


class MainStreamOut(BaseModel):
    """The camera's main stream, recorded for evidence while analysis reads the sub-stream."""

    ring: MainRing = Field(description="always, on_alert or never")
    running: bool = Field(description="connected or connecting now")
    state: CameraState
    stream: str = Field(examples=["rtsp://***@10.20.1.11:554/Streaming/Channels/101"])
    codec: str | None
    width: int | None
    height: int | None
    kbps: float
    refused: int = Field(
        default=0,
        description="incidents whose evidence came from the sub-stream because "
        "RIVERWATCH_ALERT_MAINS_MAX on_alert main streams were open already",
    )

    @classmethod
    def of(cls, main: MainStreamInfo) -> MainStreamOut:
        """Build from the hub's view of a main stream."""
        h = main.health
        return cls(ring=main.policy, running=main.running, state=h.state, stream=main.stream,
                   codec=h.codec, width=main.width, height=main.height, kbps=h.kbps,
                   refused=main.refused)  # fmt: skip


class CameraOut(BaseModel):
    """A camera as listed by `GET /api/cameras`; `stream` is the analysed stream's URL (the
    sub-stream when there is one) without credentials, `main` the main stream, if any."""

    id: str = Field(examples=["jinsha-001"])
    name: str
    group: str
    state: CameraState
    stream: str = Field(examples=["rtsp://***@10.20.1.11:554/Streaming/Channels/102"])
    health: HealthOut
    main: MainStreamOut | None = None
    warnings: list[str] = Field(
        default_factory=list,
        examples=[["GOP 8.0 s: zone 'ban' wants detection within 5 s, but 2 keyframes take ..."]],
    )
    hub_id: str | None = Field(
        default=None,
        description="in a cluster, the hub that runs the camera (null: none, or no cluster)",
        examples=["hub-a"],
    )

    @classmethod
    def of(cls, info: CameraInfo) -> CameraOut:
        """Build from the hub's view of a camera."""
        h = info.health
        return cls(
            id=info.camera_id,
            name=info.name,
            group=info.group,
            state=h.state,
            stream=info.stream,
            main=MainStreamOut.of(info.main) if info.main is not None else None,
            warnings=list(info.warnings),
            hub_id=info.hub_id,
            health=HealthOut(
                state_age_s=round(h.state_age_s, 1),
                decode_mode=h.decode_mode,
                input_fps=h.input_fps,
                analysed_fps=h.analysed_fps,
                analysed_frames=h.analysed_frames,
                kbps=h.kbps,
                last_frame_age_s=h.last_frame_age_s,
                reconnects=h.reconnects,
                stalls=h.stalls,
                decode_errors=h.decode_errors,
                dropped_frames=h.dropped_frames,
                width=h.width,
                height=h.height,
                codec=h.codec,
                last_error=h.last_error,
                reason=h.reason,
                no_frame_reopens=h.no_frame_reopens,
                gop_s=h.gop_s,
                analysis_interval_s=round(1 / h.analysed_fps, 2) if h.analysed_fps > 0 else None,
            ),
        )


class DecodeModeIn(BaseModel):
    """Body of `PUT /api/cameras/{id}/decode-mode`."""

    mode: DecodeMode


class AlertOut(BaseModel):
    """An alert message as stored in the ticket queue stream.

    An incident has several messages (`phase`: open, updates, evidence, close); without the
    phase a reader cannot tell a close from the open that started the incident.
    """

    stream_id: str
    alert_id: str
    phase: AlertPhase
    camera_id: str
    zone_id: str
    rule: str
    severity: Severity
    started_at: float
    observed_at: float
    frame_seq: int
    score: float
    box_xyxy: tuple[int, int, int, int]

    @classmethod
    def of(cls, stream_id: str, alert: Alert) -> AlertOut:
        """Build from a stream entry."""
        return cls(
            stream_id=stream_id,
            alert_id=alert.alert_id,
            phase=alert.phase,
            camera_id=alert.camera_id,
            zone_id=alert.zone_id,
            rule=alert.rule,
            severity=alert.severity,
            started_at=alert.started_at,
            observed_at=alert.observed_at,
            frame_seq=alert.frame_seq,
            score=alert.score,
            box_xyxy=alert.box_xyxy,
        )


class TicketDetail(BaseModel):
    """A ticket with its recorded moves and its field photos."""

    ticket: Ticket
    history: list[TransitionRecord]
    attachments: list[AttachmentRecord]
