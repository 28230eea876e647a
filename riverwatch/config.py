"""The hub's YAML configuration: groups, cameras, analysis settings and zones.

`load_config(path)` validates the whole file and raises `ConfigError` listing **every** problem
at once, each naming the camera and the field. Stream URLs may hold `${NAME}` placeholders,
resolved from the environment first and then from a secrets file (`KEY=VALUE` lines); resolved
URLs are kept as `SecretStr` and only their redacted form is ever shown.

A camera needs only `id`, `name`, `group` and `url`:

    cameras:
      - id: jinsha-001
        name: Jinsha bridge east
        group: jinsha
        url: rtsp://${JINSHA_USER}:${JINSHA_PASS}@10.20.1.11:554/Streaming/Channels/101
"""

from __future__ import annotations

import dataclasses
import enum
import os
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import unquote, urlsplit

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from riverwatch.notify_config import NotifyConfig, resolve_secrets
from riverwatch.secrets import Redactor, redact_url
from riverwatch.sensor_config import SensorsConfig
from riverwatch.types import CrossingDirection, DecodeMode, MainRing, RuleKind, Severity

_ID = r"^[a-z0-9][a-z0-9_.-]{0,63}$"
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_SCHEMES = frozenset({"rtsp", "rtsps", "http", "https", "file"})


class ConfigError(Exception):
    """A configuration file that cannot be used; `problems` lists every reason.

    `missing` names the `${NAME}` placeholders that have no value. The message names them
    first, with how to provide them: one unset login is usually behind many problems, and
    the problems that share the same unset names are one line, not one per camera.
    """

    def __init__(
        self,
        source: str,
        problems: Sequence[str],
        missing: Sequence[str] = (),
        secrets_file: Path | None = None,
    ) -> None:
        self.source = source
        self.problems = list(problems)
        self.missing = list(dict.fromkeys(missing))
        self.secrets_file = secrets_file
        lines = "\n".join(f"  - {p}" for p in self.problems)
        head = _missing_help(self.missing, secrets_file)
        super().__init__(f"{head}{source}: {len(self.problems)} problem(s)\n{lines}")


def _missing_help(names: Sequence[str], secrets_file: Path | None) -> str:
    """Which variables are unset and the two ways to set them; empty when none are."""
    if not names:
        return ""
    used = f"this run's: {secrets_file}" if secrets_file else "this run had none"
    return (
        f"{len(names)} variable(s) not set: {', '.join(names)}\n"
        "  Each ${NAME} is filled from the environment, then from a secrets file of NAME=value\n"
        "  lines named by RIVERWATCH_SECRETS_FILE (or, when that is unset, by `secrets_file:`\n"
        f"  in the config; {used}). Either export them:\n"
        f"    export {' '.join(f'{n}=...' for n in names)}\n"
        "  or write them, one NAME=value per line, into a file only you can read, and:\n"
        "    export RIVERWATCH_SECRETS_FILE=/path/to/that/file\n"
    )


class ZoneKind(enum.StrEnum):
    """What a zone forbids or watches; rules are chosen by it."""

    NO_FISHING = "no_fishing"
    NO_NAVIGATION = "no_navigation"
    NO_DREDGING = "no_dredging"
    WATCH = "watch"
    STREET = "street"


class GroupKind(enum.StrEnum):
    """River cameras watch water; street cameras watch the city grid."""

    RIVER = "river"
    STREET = "street"


Point = tuple[Annotated[float, Field(ge=0.0, le=1.0)], Annotated[float, Field(ge=0.0, le=1.0)]]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


DEFAULT_RULES: dict[ZoneKind, tuple[RuleKind, ...]] = {
    ZoneKind.NO_FISHING: (RuleKind.VESSEL, RuleKind.LOITERING, RuleKind.LIGHTS),
    ZoneKind.NO_NAVIGATION: (RuleKind.VESSEL, RuleKind.LIGHTS),
    ZoneKind.NO_DREDGING: (RuleKind.DREDGING, RuleKind.VESSEL),
    ZoneKind.WATCH: (RuleKind.VESSEL,),
    ZoneKind.STREET: (RuleKind.STATIONARY, RuleKind.CROWDING),
}


class ZoneConfig(_Strict):
    """A polygon in normalised image coordinates (0..1, origin top left).

    `rules` defaults by `kind` (see `DEFAULT_RULES`); the `*_s` fields are how long a track must
    keep a behaviour before its rule fires. `active_hours` limits the zone to local hours
    `[start, end)` (wrapping midnight, e.g. `[19, 6]` for night only); unset means always.
    """

    id: str = Field(pattern=_ID)
    name: str = ""
    kind: ZoneKind = ZoneKind.WATCH
    severity: Severity = Severity.MEDIUM
    polygon: list[Point] = Field(min_length=3, max_length=64)
    rules: list[RuleKind] | None = None
    min_active_fraction: float = Field(default=0.002, gt=0.0, le=1.0)
    min_observations: int = Field(default=2, ge=1, le=100)
    loiter_s: float = Field(default=120.0, gt=0, le=86_400)
    dredging_s: float = Field(default=120.0, gt=0, le=86_400)
    stationary_s: float = Field(default=60.0, gt=0, le=86_400)
    crowd_fraction: float = Field(default=0.35, gt=0.0, le=1.0)
    # How soon an event here must be detected. A keyframe-only camera sees a frame a GOP, and a
    # track needs `min_observations` of them: a camera whose measured GOP makes that longer is
    # flagged (health, wall, `check-config --probe`).
    max_delay_s: float = Field(default=5.0, gt=0, le=3600)
    active_hours: (
        tuple[Annotated[int, Field(ge=0, le=23)], Annotated[int, Field(ge=0, le=24)]] | None
    ) = None

    @property
    def rule_kinds(self) -> tuple[RuleKind, ...]:
        """The rules this zone runs."""
        return tuple(self.rules) if self.rules is not None else DEFAULT_RULES[self.kind]


class TripwireDirection(enum.StrEnum):
    """Which crossings of a tripwire count: one way (see `CrossingDirection` for the sides)
    or both."""

    A_TO_B = "a_to_b"
    B_TO_A = "b_to_a"
    BOTH = "both"

    def counts(self, crossing: CrossingDirection) -> bool:
        """Whether a crossing this way is reported."""
        return self is TripwireDirection.BOTH or self.value == crossing.value


class TripwireConfig(_Strict):
    """A line on the picture (normalised 0..1 like zone polygons, two points or more) that a
    track's reference point (its box's bottom centre: a vessel's waterline, a person's feet)
    is reported crossing.

    Side A is on the left of the line walked from its first point to its last, looking at the
    picture; side B on its right: `line: [[0, 0.5], [1, 0.5]]` has A above and B below, so
    `a_to_b` is moving down the picture. A track counts once per direction until it crosses
    back; it must get `hysteresis` (a fraction of the picture's longer side) clear of the line
    on a side before being on that side, so one jittering on the line does not count.
    `reach` is how far on each side (same unit) objects are followed even outside every zone.
    Ids share one namespace with the camera's zones: alerts and tickets name the line there.
    """

    id: str = Field(pattern=_ID)
    name: str = ""
    line: list[Point] = Field(min_length=2, max_length=32)
    direction: TripwireDirection = TripwireDirection.BOTH
    severity: Severity = Severity.MEDIUM
    confirmed_only: bool = True
    min_object_px: int = Field(default=0, ge=0)
    hysteresis: float = Field(default=0.01, ge=0.0, le=0.2)
    reach: float = Field(default=0.15, gt=0.0, le=1.0)
    active_hours: (
        tuple[Annotated[int, Field(ge=0, le=23)], Annotated[int, Field(ge=0, le=24)]] | None
    ) = None

    @field_validator("line")
    @classmethod
    def _no_empty_segment(cls, line: list[tuple[float, float]]) -> list[tuple[float, float]]:
        repeated = [i for i in range(1, len(line)) if line[i] == line[i - 1]]
        if repeated:
            i = repeated[0]
            raise ValueError(f"points {i - 1} and {i} are the same; a line needs length")
        return line


class GroundPlane(_Strict):
    """A camera's simple ground-plane calibration: how object sizes shrink towards the horizon.

    `horizon` is the image row (0..1, from the top) where the water or road meets the sky;
    `scale_at_horizon` is how big (in length) an object just below the horizon looks against
    the same object at the bottom of the picture. Size bands are scaled by the square of the
    linear factor at each object's waterline.
    """

    horizon: float = Field(ge=0.0, lt=1.0)
    scale_at_horizon: float = Field(default=0.2, gt=0.0, le=1.0)


class AnalysisConfig(_Strict):
    """How a camera is analysed; every field has a default."""

    enabled: bool = True
    decode_mode: DecodeMode = DecodeMode.KEYFRAMES
    detect_fps: float = Field(default=5.0, gt=0.0, le=30.0)
    diff_threshold: int = Field(default=14, ge=1, le=255)
    sensitivity: float = Field(default=2.5, gt=0.0, le=20.0)
    min_object_px: int = Field(default=48, ge=1)
    max_object_px: int = Field(default=20_000, ge=1)
    large_vessel_px: int = Field(default=300, ge=1)
    masks: list[list[Point]] = Field(default_factory=list, max_length=16)
    ground: GroundPlane | None = None


class CameraConfig(_Strict):
    """One camera as written in the file (URLs still hold their `${NAME}` placeholders)."""

    id: str = Field(pattern=_ID)
    name: str = Field(min_length=1, max_length=200)
    group: str = Field(pattern=_ID)
    url: str = Field(min_length=1)
    # The sub-stream, when the camera has one: analysis and wall tiles use it, and `url` (the
    # main stream) gives the evidence, kept in a ring as `main_ring` says (the group's if unset).
    sub_url: str | None = None
    main_ring: MainRing | None = None
    analysis: AnalysisConfig = AnalysisConfig()
    zones: list[ZoneConfig] = Field(default_factory=list, max_length=32)
    tripwires: list[TripwireConfig] = Field(default_factory=list, max_length=16)


class GroupConfig(_Strict):
    """A named set of cameras (the city grid, the Jinsha, the Heng)."""

    id: str = Field(pattern=_ID)
    name: str = Field(min_length=1)
    kind: GroupKind = GroupKind.STREET
    # For its cameras with a sub-stream; unset: `always` on rivers, `on_alert` on streets.
    main_ring: MainRing | None = None


class ModelConfig(_Strict):
    """An operator's own ONNX detector or classifier, run on the crops of active regions.

    A region is kept when the model scores it at least `min_score` on one of the `keep` labels
    (e.g. `keep: [boat, person]`); the rest are dropped before tracking. The project ships no
    weights and never downloads any.
    """

    path: str = Field(min_length=1)
    input_size: tuple[Annotated[int, Field(ge=4, le=1024)], Annotated[int, Field(ge=4, le=1024)]]
    labels: list[str] = Field(min_length=1)
    keep: list[str] = Field(min_length=1)
    min_score: float = Field(default=0.5, ge=0.0, le=1.0)
    backend: Literal["opencv", "onnxruntime"] = "opencv"
    softmax: bool = False

    @field_validator("keep")
    @classmethod
    def _keep_known(cls, keep: list[str], info: Any) -> list[str]:
        labels = info.data.get("labels") or []
        unknown = [k for k in keep if k not in labels]
        if unknown:
            raise ValueError(f"keep names labels the model does not have: {', '.join(unknown)}")
        return keep


_CLOCK = r"^([01]\d|2[0-3]):[0-5]\d$"
_DAY_OF_YEAR = r"^(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$"
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class ProfileWhen(_Strict):
    """When a profile is on by itself, in the hub's local time: on `days`, from `start` to
    `end` (wrapping midnight when `end` <= `start`; `00:00`-`00:00` is the whole day), and,
    when `season` is given, only between those two dates of each year (`MM-DD`, inclusive,
    wrapping the new year)."""

    days: list[Weekday] = Field(default_factory=lambda: list(WEEKDAYS), min_length=1)
    start: str = Field(default="00:00", pattern=_CLOCK)
    end: str = Field(default="00:00", pattern=_CLOCK)
    season: tuple[
        Annotated[str, Field(pattern=_DAY_OF_YEAR)], Annotated[str, Field(pattern=_DAY_OF_YEAR)]
    ] | None = None  # fmt: skip


class ProfileOverride(_Strict):
    """What a profile changes for the incidents it matches (every filter left unset matches
    everything): `enabled: false` keeps them from raising alerts; `severity` sets theirs."""

    cameras: list[str] | None = None
    groups: list[str] | None = None
    zones: list[str] | None = None
    rules: list[RuleKind] | None = None
    enabled: bool = True
    severity: Severity | None = None

    @model_validator(mode="after")
    def _changes_something(self) -> ProfileOverride:
        if self.enabled and self.severity is None:
            raise ValueError("an override turns rules off (enabled: false) or sets a severity")
        return self


class ProfileConfig(_Strict):
    """A named set of rule overrides ("night", "flood season", "holiday"), on by `when`
    (a schedule; empty: only by hand) or switched on and off by hand, without a restart."""

    id: str = Field(pattern=_ID)
    name: str = ""
    when: list[ProfileWhen] = Field(default_factory=list)
    overrides: list[ProfileOverride] = Field(min_length=1)


class HubConfig(_Strict):
    """The whole file."""

    groups: list[GroupConfig] = Field(default_factory=list)
    defaults: AnalysisConfig = AnalysisConfig()
    model: ModelConfig | None = None
    # A verifier model folder (`riverwatch verifier train`), relative to this file; it plugs in
    # where `model` does, so a hub runs one or the other. `site` means the data dir's active
    # version (`<data_dir>/verifier/`), retrained from reviewers' labels and swapped live.
    verifier: str | None = Field(default=None, min_length=1)
    secrets_file: str | None = None
    notify: NotifyConfig = NotifyConfig()
    sensors: SensorsConfig = Field(default_factory=SensorsConfig)
    profiles: list[ProfileConfig] = Field(default_factory=list, max_length=100)
    cameras: list[CameraConfig] = Field(min_length=1)

    @model_validator(mode="after")
    def _profiles_name_what_exists(self) -> HubConfig:
        ids = Counter(p.id for p in self.profiles)
        problems = [f"profiles: id {i!r} is used {n} times" for i, n in ids.items() if n > 1]
        cameras = {c.id for c in self.cameras}
        groups = {g.id for g in self.groups} | {c.group for c in self.cameras}
        for profile in self.profiles:
            for n, rule in enumerate(profile.overrides):
                where = f"profiles[{profile.id}].overrides[{n}]"
                problems += [f"{where}.cameras: no camera {c!r}"
                             for c in rule.cameras or () if c not in cameras]  # fmt: skip
                problems += [f"{where}.groups: no group {g!r}"
                             for g in rule.groups or () if g not in groups]  # fmt: skip
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @field_validator("cameras")
    @classmethod
    def _not_too_many(cls, cameras: list[CameraConfig]) -> list[CameraConfig]:
        if len(cameras) > 2000:
            raise ValueError("at most 2000 cameras per hub")
        return cameras


@dataclass(frozen=True)
class ResolvedCamera:
    """A validated camera with its real stream URLs (secret) and their redacted forms."""

    config: CameraConfig
    url: SecretStr
    sub_url: SecretStr | None
    display_url: str
    main_ring: MainRing = MainRing.NEVER  # NEVER when there is no sub-stream
    sub_display_url: str | None = None

    @property
    def id(self) -> str:
        """The camera id."""
        return self.config.id

    @property
    def analysis_url(self) -> SecretStr:
        """The stream analysis decodes: the sub-stream when there is one."""
        return self.sub_url if self.sub_url is not None else self.url


@dataclass(frozen=True)
class LoadedConfig:
    """A configuration ready to run: cameras resolved, secrets known to the redactor."""

    source: str
    hub: HubConfig
    cameras: list[ResolvedCamera]
    redactor: Redactor
    warnings: list[str]
    base_dir: Path | None = None
    text: str = ""  # the YAML it was read from (placeholders unresolved)
    # The variables placeholders were resolved from when not the environment (tests): a new
    # version is resolved the same way. Never shown.
    env: Mapping[str, str] | None = dataclasses.field(default=None, repr=False, compare=False)

    def group_of(self, camera_id: str) -> GroupConfig | None:
        """The declared group of a camera, if groups are declared."""
        cams = {c.id: c.config.group for c in self.cameras}
        return next((g for g in self.hub.groups if g.id == cams.get(camera_id)), None)


def load_config(
    path: Path,
    env: Mapping[str, str] | None = None,
    secrets_file: Path | None = None,
) -> LoadedConfig:
    """Read, validate and resolve a config file; raise `ConfigError` with every problem."""
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(source, [f"cannot read file: {exc.strerror}"]) from None
    return parse_config(text, source, env, secrets_file, base_dir=path.parent)


def parse_config(
    text: str,
    source: str = "<config>",
    env: Mapping[str, str] | None = None,
    secrets_file: Path | None = None,
    base_dir: Path | None = None,
) -> LoadedConfig:
    """Validate YAML text; see `load_config`."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(source, [f"not valid YAML: {exc}"]) from None
    if not isinstance(raw, dict):
        raise ConfigError(source, ["the file must be a mapping with a `cameras:` list"])
    raw = _apply_defaults(raw)
    secrets_path = _secrets_path(raw.get("secrets_file"), secrets_file, base_dir)
    lookup, problems = _secret_lookup(env, secrets_path)
    missing = _MissingSecrets()
    problems += _raw_problems(raw) + _url_problems(raw, lookup, missing)
    hub: HubConfig | None = None
    try:
        hub = HubConfig.model_validate(raw)
    except ValidationError as exc:
        problems = _format_validation(exc, raw) + problems
    notify_secrets: list[str] = []
    if hub is not None:
        resolved = resolve_secrets(hub.notify, lookup)
        problems += resolved.problems
        missing.names += resolved.missing
        notify_secrets = list(resolved.secret_values)
        problems += hub.sensors.camera_problems(c.id for c in hub.cameras)
        sensors, mqtt_secret = _resolve_mqtt(hub.sensors, lookup, missing)
        notify_secrets += mqtt_secret
        hub = hub.model_copy(update={"notify": resolved.config, "sensors": sensors})
    problems += missing.problems()
    if hub is None or problems:
        raise ConfigError(source, problems, missing.names, secrets_path)
    cameras, redactor, warnings = _resolve_cameras(hub, lookup)
    for value in notify_secrets:
        redactor.add(value)
    return LoadedConfig(source, hub, cameras, redactor, warnings, base_dir, text, env)


def _apply_defaults(raw: dict[str, Any]) -> dict[str, Any]:
    """Merge `defaults:` into each camera's `analysis:` before validation."""
    defaults = raw.get("defaults")
    cameras = raw.get("cameras")
    if not isinstance(defaults, dict) or not isinstance(cameras, list):
        return raw
    merged = []
    for cam in cameras:
        if isinstance(cam, dict):
            own = cam.get("analysis") if isinstance(cam.get("analysis"), dict) else {}
            cam = {**cam, "analysis": {**defaults, **(own or {})}}
        merged.append(cam)
    return {**raw, "cameras": merged}


def _camera_label(raw: Mapping[str, Any], index: int) -> str:
    cameras = raw.get("cameras")
    cam = cameras[index] if isinstance(cameras, list) and index < len(cameras) else None
    cam_id = cam.get("id") if isinstance(cam, dict) else None
    return f"camera {cam_id!r} (cameras[{index}])" if cam_id else f"cameras[{index}]"


def _format_loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else ("." if out else "") + str(part)
    return out or "(top level)"


def _format_validation(exc: ValidationError, raw: Mapping[str, Any]) -> list[str]:
    """One line per error, naming the camera by id; input values are never echoed."""
    lines = []
    for err in exc.errors(include_input=False, include_url=False):
        loc = tuple(err["loc"])
        if len(loc) >= 2 and loc[0] == "cameras" and isinstance(loc[1], int):
            where = f"{_camera_label(raw, loc[1])}: {_format_loc(loc[2:])}"
        else:
            where = _format_loc(loc)
        lines.append(f"{where}: {err['msg']}")
    return lines


def _raw_problems(raw: Mapping[str, Any]) -> list[str]:
    """Cross-field checks that pydantic's per-field validation cannot see."""
    cameras = [c for c in raw.get("cameras") or [] if isinstance(c, dict)]
    problems = [
        f"camera {cam_id!r}: id: used by {n} cameras; ids must be unique"
        for cam_id, n in Counter(c.get("id") for c in cameras).items()
        if cam_id is not None and n > 1
    ]
    groups = raw.get("groups")
    declared = (
        {g.get("id") for g in groups if isinstance(g, dict)} if isinstance(groups, list) else None
    )
    for index, cam in enumerate(raw.get("cameras") or []):
        if not isinstance(cam, dict):
            continue
        label = _camera_label(raw, index)
        if declared is not None and cam.get("group") is not None and cam["group"] not in declared:
            problems.append(f"{label}: group: {cam['group']!r} is not one of the declared groups")
        zones = cam["zones"] if isinstance(cam.get("zones"), list) else []
        zone_ids = Counter(z.get("id") for z in zones if isinstance(z, dict))
        problems += [
            f"{label}: zones: zone id {zid!r} used {n} times"
            for zid, n in zone_ids.items()
            if n > 1
        ]
        problems += _tripwire_id_problems(label, cam, zone_ids)
    return problems


def _tripwire_id_problems(label: str, cam: Mapping[str, Any], zone_ids: Counter[Any]) -> list[str]:
    """A tripwire's id must be unique among the camera's tripwires and zones (alerts, tickets
    and suppressions name it where they name a zone)."""
    wires = cam["tripwires"] if isinstance(cam.get("tripwires"), list) else []
    wire_ids = Counter(w.get("id") for w in wires if isinstance(w, dict))
    problems = [
        f"{label}: tripwires: tripwire id {wid!r} used {n} times"
        for wid, n in wire_ids.items()
        if wid is not None and n > 1
    ]
    problems += [
        f"{label}: tripwires: tripwire id {wid!r} is also a zone id"
        for wid in wire_ids
        if wid is not None and wid in zone_ids
    ]
    return problems


def _secrets_path(
    from_file: object, secrets_file: Path | None, base_dir: Path | None
) -> Path | None:
    """The secrets file to read: the setting's, else the config's (relative to the config)."""
    path = secrets_file
    if path is None and isinstance(from_file, str) and from_file:
        path = Path(from_file)
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
    return path


def _secret_lookup(
    env: Mapping[str, str] | None, path: Path | None
) -> tuple[dict[str, str], list[str]]:
    """Environment over secrets file; a problem if the file is unreadable."""
    values: dict[str, str] = {}
    problems: list[str] = []
    if path is not None:
        try:
            values.update(_parse_secrets(path.read_text(encoding="utf-8")))
        except OSError as exc:
            problems.append(f"secrets_file: cannot read {path}: {exc.strerror}")
    values.update(os.environ if env is None else env)
    return values, problems


def _parse_secrets(text: str) -> dict[str, str]:
    values = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip().strip('"').strip("'")
    return values


def _resolve(template: str, lookup: Mapping[str, str]) -> tuple[str, list[str], list[str]]:
    """Fill `${NAME}` placeholders; return (url, missing names, values used)."""
    missing: list[str] = []
    used: list[str] = []

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in lookup:
            missing.append(name)
            return ""
        used.append(lookup[name])
        return lookup[name]

    return _PLACEHOLDER.sub(fill, template), missing, used


class _MissingSecrets:
    """Unset placeholders, grouped by which names are unset.

    A city file shares one login among 200 cameras: one unset variable makes one problem line
    naming the cameras, not 400 identical lines.
    """

    def __init__(self) -> None:
        self.names: list[str] = []  # every unset name met, in order, repeats allowed
        self._places: dict[tuple[str, ...], list[tuple[str, str, str | None]]] = {}

    def add(self, names: Sequence[str], label: str, field: str, camera: str | None) -> None:
        """Record that `label`'s `field` (of `camera`, if a camera's) needs `names`."""
        self.names += names
        key = tuple(dict.fromkeys(names))
        self._places.setdefault(key, []).append((label, field, camera))

    def problems(self) -> list[str]:
        """One line per set of unset names, saying where they are needed."""
        lines = []
        for key, places in self._places.items():
            wanted = ", ".join(f"${{{name}}}" for name in key)
            where = _describe_places(places)
            lines.append(f"{where}: not set in the environment nor in the secrets file: {wanted}")
        return lines


def _describe_places(places: Sequence[tuple[str, str, str | None]]) -> str:
    """`camera 'a' (cameras[0]): url` for one place; `url, sub_url of 200 cameras (...)`."""
    if len(places) == 1:
        label, field, _ = places[0]
        return f"{label}: {field}"
    cameras = list(dict.fromkeys(cam for _, _, cam in places if cam is not None))
    fields = ", ".join(dict.fromkeys(field for _, field, cam in places if cam is not None))
    parts = [f"{label}: {field}" for label, field, cam in places if cam is None]
    if cameras:
        shown = ", ".join(cameras) if len(cameras) <= 4 else f"{cameras[0]} … {cameras[-1]}"
        parts.insert(0, f"{fields} of {len(cameras)} camera(s) ({shown})")
    return "; ".join(parts)


def _url_problems(
    raw: Mapping[str, Any], lookup: Mapping[str, str], missing_secrets: _MissingSecrets
) -> list[str]:
    """Unusable URLs, checked on the raw file; unresolvable placeholders go to the collector."""
    problems = []
    for index, cam in enumerate(raw.get("cameras") or []):
        if not isinstance(cam, dict):
            continue
        cam_id = cam.get("id")
        for field in ("url", "sub_url"):
            template = cam.get(field)
            if not isinstance(template, str) or not template:
                continue
            url, missing, _ = _resolve(template, lookup)
            if missing:
                label = _camera_label(raw, index)
                missing_secrets.add(missing, label, field, str(cam_id or label))
            elif (bad := _check_url(url)) is not None:
                problems.append(f"{_camera_label(raw, index)}: {field}: {bad}")
    return problems


def _check_url(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme not in _SCHEMES:
        return f"scheme must be one of {', '.join(sorted(_SCHEMES))}"
    if parts.scheme != "file" and not parts.hostname:
        return "has no host"
    return None


def _resolve_mqtt(
    sensors: SensorsConfig, lookup: Mapping[str, str], missing_secrets: _MissingSecrets
) -> tuple[SensorsConfig, list[str]]:
    """Fill `${NAME}` in the MQTT password like a camera URL's."""
    mqtt = sensors.mqtt
    if mqtt is None or mqtt.password is None:
        return sensors, []
    value, missing, used = _resolve(mqtt.password.get_secret_value(), lookup)
    if missing:
        missing_secrets.add(missing, "sensors.mqtt", "password", None)
    filled = mqtt.model_copy(update={"password": SecretStr(value)})
    return sensors.model_copy(update={"mqtt": filled}), [*used, value]


def _resolve_cameras(
    hub: HubConfig, lookup: Mapping[str, str]
) -> tuple[list[ResolvedCamera], Redactor, list[str]]:
    """Fill placeholders of an already checked config and teach the redactor its secrets."""
    redactor = Redactor()
    cameras: list[ResolvedCamera] = []
    warnings: list[str] = []
    for cam in hub.cameras:
        resolved: dict[str, SecretStr] = {}
        for field in ("url", "sub_url"):
            template = getattr(cam, field)
            if template is None:
                continue
            url, _, used = _resolve(template, lookup)
            for value in used:
                redactor.add(value)
            _remember_userinfo(url, redactor)
            if not _PLACEHOLDER.search(template) and urlsplit(url).password:
                warnings.append(
                    f"camera {cam.id!r}: {field}: password written inline; prefer ${{NAME}}"
                )
            resolved[field] = SecretStr(url)
        url_secret, sub = resolved["url"], resolved.get("sub_url")
        display = redact_url(url_secret.get_secret_value())
        cameras.append(
            ResolvedCamera(
                cam,
                url_secret,
                sub,
                display,
                MainRing.NEVER if sub is None else _main_ring(hub, cam),
                None if sub is None else redact_url(sub.get_secret_value()),
            )
        )
    return cameras, redactor, warnings


def _main_ring(hub: HubConfig, cam: CameraConfig) -> MainRing:
    """The camera's own choice, else its group's, else by the group's kind."""
    if cam.main_ring is not None:
        return cam.main_ring
    group = next((g for g in hub.groups if g.id == cam.group), None)
    if group is not None and group.main_ring is not None:
        return group.main_ring
    river = group is not None and group.kind is GroupKind.RIVER
    return MainRing.ALWAYS if river else MainRing.ON_ALERT


def _remember_userinfo(url: str, redactor: Redactor) -> None:
    parts = urlsplit(url)
    if parts.password:
        redactor.add(parts.password)
        redactor.add(unquote(parts.password))
