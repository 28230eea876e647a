"""Domain types shared by every stage: camera states, decode modes, health and alerts.

The vocabulary lives here too: `RuleKind`, `Severity` (with its one ranking) and
`AlertPhase`. Code compares these enums, never their words; being `StrEnum`s, they serialise
to the same strings as before.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class CameraState(enum.StrEnum):
    """Where a camera's ingest state machine stands.

    connecting -> streaming -> (stalled | error) -> backing_off -> connecting ...
    A camera whose stream cannot be used at all (no video, unsupported codec) is `failed`;
    it is still retried, at the longest backoff, since cameras do get repaired. A camera that
    receives packets but yields no analysed frame for three GOPs is `no_frames` (its
    `CameraHealth.reason` says why) and is reopened; it stays `no_frames` through the reopening
    until a frame is analysed again.
    """

    CONNECTING = "connecting"
    STREAMING = "streaming"
    STALLED = "stalled"
    BACKING_OFF = "backing_off"
    FAILED = "failed"
    STOPPED = "stopped"
    NO_FRAMES = "no_frames"


class MainRing(enum.StrEnum):
    """When a camera with a sub-stream keeps its main stream in a ring for evidence.

    Analysis and the wall's tiles use the sub-stream; evidence (snapshot, clip) comes from the
    main stream whenever its ring holds video. `always` pays the main stream's bandwidth all
    the time for full-quality pre-roll; `on_alert` opens it when an incident opens (pre-roll
    from the sub-stream's ring) and closes it after; `never` keeps evidence on the sub-stream.
    """

    ALWAYS = "always"
    ON_ALERT = "on_alert"
    NEVER = "never"


class DecodeMode(enum.StrEnum):
    """How much of a stream is decoded for analysis.

    `keyframes` decodes one frame per GOP (cheap); `full` decodes every frame and hands the
    detectors frames at the camera's detect fps.
    """

    KEYFRAMES = "keyframes"
    FULL = "full"


@dataclass(frozen=True, slots=True)
class CameraHealth:
    """A point-in-time copy of one camera's ingest figures, safe to serialise."""

    camera_id: str
    state: CameraState
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
    reason: str = ""  # why the camera is in its state, safe to show (no credentials)
    no_frame_reopens: int = 0  # sessions reopened because packets came but no frame analysed
    gop_s: float | None = None  # longest of the last 8 keyframe intervals by arrival, once 3


class RuleKind(enum.StrEnum):
    """What the detection core can report about a zone."""

    VESSEL = "vessel_in_zone"
    LOITERING = "loitering"
    DREDGING = "dredging"
    LIGHTS = "lights_at_night"
    STATIONARY = "stationary_object"
    CROWDING = "crowding"
    LINE_CROSSING = "line_crossing"


class CrossingDirection(enum.StrEnum):
    """Which way a track crossed a tripwire.

    Side A is on the left of the line as drawn from its first point to its last, looking at
    the picture; side B on its right. A line drawn left to right across the picture has A
    above it (farther away) and B below it (nearer).
    """

    A_TO_B = "a_to_b"
    B_TO_A = "b_to_a"


class Severity(enum.StrEnum):
    """Alert severity, lowest first; camera and sensor alerts use the same words.

    Order severities by `rank`, never by their words (as strings, "high" < "low"):

    >>> max(Severity.HIGH, Severity.LOW, key=lambda s: s.rank)
    <Severity.HIGH: 'high'>
    """

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """1 for low up to 4 for critical: the one ranking (a new ticket's priority too)."""
        return _SEVERITY_RANKS[self]


_SEVERITY_RANKS = {severity: rank for rank, severity in enumerate(Severity, start=1)}


class AlertPhase(enum.StrEnum):
    """Where an alert's message stands in its incident.

    An incident yields one `open`, any number of `update`s while it lasts, at most one
    `evidence` (snapshot and clip, written after the post-roll), and one `close`.
    """

    OPEN = "open"
    UPDATE = "update"
    EVIDENCE = "evidence"
    CLOSE = "close"


SCHEMA_VERSION = "1"
TRACK_POINTS = 50


def _parse_track(text: str) -> tuple[tuple[float, int, int, int, int], ...]:
    """Inverse of the `track` field: "t,x1,y1,x2,y2;..."; raises ValueError if malformed."""
    points = []
    for item in filter(None, text.split(";")):
        t, x1, y1, x2, y2 = item.split(",")
        points.append((float(t), int(x1), int(y1), int(x2), int(y2)))
    return tuple(points[-TRACK_POINTS:])


@dataclass(frozen=True, slots=True)
class Alert:
    """One message about an incident on its way into the ticket queue (schema 1).

    `alert_id` names the incident and is idempotent: the same incident observed again yields
    the same id. `message_id` names this message (`<alert_id>:<phase>:<revision>`), so a
    consumer, or a retry after a Redis blink, can drop a message it has already seen.
    `source` is `camera` or `sensor`; a sensor alert has `sensor_id` set and may have an empty
    `camera_id`. Evidence paths are relative to the hub's data directory. `track` holds the
    incident's recent boxes, (epoch seconds, x1, y1, x2, y2) in analysis pixels, at most
    `TRACK_POINTS` of them, so a replay can draw the path. A camera alert's `rule` is a
    `RuleKind`; a sensor alert's is the id of the sensor rule that fired (any word the sensor
    config chose), so the field is a plain string.
    """

    alert_id: str
    camera_id: str
    zone_id: str
    rule: str
    severity: Severity
    started_at: float
    observed_at: float
    frame_seq: int
    score: float
    box_xyxy: tuple[int, int, int, int]
    phase: AlertPhase = AlertPhase.OPEN
    revision: int = 0
    ended_at: float | None = None
    source: str = "camera"
    sensor_id: str = ""
    group: str = ""
    note: str = ""
    snapshot: str = ""
    snapshot_sha256: str = ""
    clip: str = ""
    clip_sha256: str = ""
    # With an on_alert main stream the clip is the main stream's from its opening on, and the
    # pre-roll before it is a second clip, from the sub-stream.
    preroll_clip: str = ""
    preroll_clip_sha256: str = ""
    track: tuple[tuple[float, int, int, int, int], ...] = ()
    # In a cluster, the hub that raised it and the camera's fencing epoch it held then (0:
    # a hub on its own, or a sensor): a new incident from an owner that has since lost the
    # camera is refused where tickets are written.
    hub_id: str = ""
    epoch: int = 0

    def __post_init__(self) -> None:
        # Strict: a severity outside the enum is refused here (ValueError), not ranked later.
        object.__setattr__(self, "severity", Severity(self.severity))

    @property
    def message_id(self) -> str:
        """Idempotent id of this one message."""
        return f"{self.alert_id}:{self.phase}:{self.revision}"

    def to_fields(self) -> dict[str, str]:
        """The flat string fields written with XADD (documented in the README)."""
        return {
            "schema": SCHEMA_VERSION,
            "message_id": self.message_id,
            "alert_id": self.alert_id,
            "phase": str(self.phase),
            "revision": str(self.revision),
            "source": self.source,
            "camera_id": self.camera_id,
            "sensor_id": self.sensor_id,
            "group": self.group,
            "zone_id": self.zone_id,
            "rule": self.rule,
            "severity": self.severity,
            "started_at": f"{self.started_at:.3f}",
            "observed_at": f"{self.observed_at:.3f}",
            "ended_at": "" if self.ended_at is None else f"{self.ended_at:.3f}",
            "frame_seq": str(self.frame_seq),
            "score": f"{self.score:.4f}",
            "box_xyxy": ",".join(str(v) for v in self.box_xyxy),
            "note": self.note,
            "snapshot": self.snapshot,
            "snapshot_sha256": self.snapshot_sha256,
            "clip": self.clip,
            "clip_sha256": self.clip_sha256,
            "preroll_clip": self.preroll_clip,
            "preroll_clip_sha256": self.preroll_clip_sha256,
            "track": ";".join(f"{t:.2f},{x1},{y1},{x2},{y2}" for t, x1, y1, x2, y2 in self.track),
            "hub_id": self.hub_id,
            "epoch": str(self.epoch),
        }

    @classmethod
    def from_fields(cls, fields: dict[str, str]) -> Alert:
        """Inverse of `to_fields`; raises ValueError (or KeyError) on a malformed message."""
        box = tuple(int(v) for v in fields["box_xyxy"].split(","))
        if len(box) != 4:
            raise ValueError("box_xyxy needs four integers")
        ended = fields.get("ended_at", "")
        return cls(
            alert_id=fields["alert_id"],
            camera_id=fields["camera_id"],
            zone_id=fields["zone_id"],
            rule=fields["rule"],
            severity=Severity(fields["severity"]),
            started_at=float(fields["started_at"]),
            observed_at=float(fields["observed_at"]),
            frame_seq=int(fields["frame_seq"]),
            score=float(fields["score"]),
            box_xyxy=(box[0], box[1], box[2], box[3]),
            phase=AlertPhase(fields.get("phase", "open")),
            revision=int(fields.get("revision", "0")),
            ended_at=float(ended) if ended else None,
            source=fields.get("source", "camera"),
            sensor_id=fields.get("sensor_id", ""),
            group=fields.get("group", ""),
            note=fields.get("note", ""),
            snapshot=fields.get("snapshot", ""),
            snapshot_sha256=fields.get("snapshot_sha256", ""),
            clip=fields.get("clip", ""),
            clip_sha256=fields.get("clip_sha256", ""),
            preroll_clip=fields.get("preroll_clip", ""),
            preroll_clip_sha256=fields.get("preroll_clip_sha256", ""),
            track=_parse_track(fields.get("track", "")),
            hub_id=fields.get("hub_id", ""),
            epoch=int(fields.get("epoch", "0") or "0"),
        )


@dataclass(frozen=True, slots=True)
class MainStreamInfo:
    """A camera's main stream kept for evidence: when, whether it runs now, and its figures
    (`width`, `height` from the stream itself: a recorder decodes nothing)."""

    policy: MainRing
    running: bool
    stream: str
    health: CameraHealth
    width: int | None
    height: int | None
    refused: int = 0  # `on_alert` openings refused: `alert_mains_max` mains were open


@dataclass(frozen=True)
class CameraInfo:
    """What the API shows of a camera: identity plus health (never its URL's credentials).

    `stream` and `health` are the analysed stream's (the sub-stream when there is one)."""

    camera_id: str
    name: str
    group: str
    stream: str
    health: CameraHealth
    main: MainStreamInfo | None = None
    warnings: tuple[str, ...] = ()  # configuration advice from measured figures (a long GOP)
    hub_id: str | None = None  # in a cluster, the hub that runs it (None: nobody, or no cluster)
