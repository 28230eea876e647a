"""Process-wide settings from the environment (prefix `RIVERWATCH_`, plus `REDIS_URL`).

Everything tunable that is not per camera lives here, validated once at start-up. Bounds are
checked, so a nonsensical value (a zero timeout, an analysis frame of 3 pixels) refuses to start
instead of misbehaving later.
"""

from __future__ import annotations

import difflib
import os
import re
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from riverwatch.types import Severity


def _default_data_dir() -> Path:
    return Path.home() / ".local" / "share" / "riverwatch"


class Settings(BaseSettings):
    """Validated hub settings; read from the environment, never printed with secrets.

    >>> Settings(analysis_width=320).analysis_shape_hw
    (180, 320)
    """

    model_config = SettingsConfigDict(env_prefix="RIVERWATCH_", extra="forbid")

    data_dir: Path = Field(default_factory=_default_data_dir)
    # Evidence, ticket attachments and labelled samples: paths in tickets are relative to it.
    # Unset: the data dir. In a cluster, a directory every hub mounts (NFS, a shared volume),
    # so that any hub serves any hub's evidence.
    files_dir: Path | None = None
    log_level: str = Field(default="INFO", pattern=r"^(DEBUG|INFO|WARNING|ERROR|CRITICAL)$")
    log_format: Literal["text", "json"] = "text"  # json: one object per line, for collectors
    redis_url: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("REDIS_URL", "RIVERWATCH_REDIS_URL")
    )
    # Redis behind Sentinel: "host:port,host:port" of the sentinels and the master's name;
    # the hub follows the master they name through a failover. `redis_password` is the
    # master's (and replicas') password; `redis_replicas_ack` replicas must hold each batch of
    # alerts before it leaves the spool (`WAIT`; only replicas connected at the time count).
    redis_sentinels: str | None = Field(
        default=None, pattern=r"^[^\s,:]+:\d{1,5}(,[^\s,:]+:\d{1,5})*$"
    )
    redis_sentinel_master: str = Field(default="riverwatch", min_length=1)
    redis_password: SecretStr | None = None
    redis_replicas_ack: int = Field(default=0, ge=0, le=8)
    secrets_file: Path | None = None

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)

    # Analysis frames: every camera is downscaled into one row of a shared batch array.
    analysis_width: int = Field(default=320, ge=32, le=1920)
    analysis_height: int = Field(default=180, ge=32, le=1080)

    # Ingest timeouts and retry policy.
    open_timeout_s: float = Field(default=10.0, gt=0, le=120)
    read_timeout_s: float = Field(default=5.0, gt=0, le=120)
    stall_timeout_s: float = Field(default=8.0, gt=0, le=300)
    backoff_base_s: float = Field(default=1.0, gt=0, le=60)
    backoff_max_s: float = Field(default=60.0, gt=0, le=3600)
    ring_seconds: float = Field(default=15.0, ge=1, le=300)
    ring_max_bytes: int = Field(default=8_000_000, ge=100_000)
    max_consecutive_decode_errors: int = Field(default=25, ge=1)
    full_rate_budget: int = Field(default=25, ge=0, description="cameras decoded at full rate")
    learn_s: float = Field(default=60.0, ge=0, le=3600)  # a new camera learns before it alerts

    # Detection tick and the thin alert path.
    tick_interval_s: float = Field(default=0.2, gt=0, le=10)
    alert_stream: str = Field(default="riverwatch:alerts", min_length=1)
    alert_stream_maxlen: int = Field(default=100_000, ge=100)
    redis_timeout_s: float = Field(default=2.0, gt=0, le=60)
    alert_cooldown_s: float = Field(default=60.0, ge=0)  # an incident closes this long after
    alert_update_interval_s: float = Field(default=15.0, gt=0)  # at most one update this often

    # Tickets: the closed loop and its one-hour rule.
    ticket_db_url: SecretStr | None = Field(
        default=None, description="SQLAlchemy URL; SQLite under the data dir when unset"
    )
    ticket_db_timeout_s: float = Field(default=5.0, gt=0, le=60)
    ticket_sla_s: float = Field(default=3600.0, gt=0)
    ticket_sla_by_rule: dict[str, float] = Field(default_factory=dict)
    ticket_sla_by_severity: dict[Severity, float] = Field(default_factory=dict)
    ticket_escalation_period_s: float = Field(default=3600.0, gt=0)
    ticket_escalation_max_level: int = Field(default=3, ge=1)
    ticket_scan_period_s: float = Field(default=30.0, gt=0)
    attachment_max_bytes: int = Field(default=10_000_000, ge=1)
    consumer_group: str = Field(default="riverwatch-tickets", min_length=1)

    # People: the first admin (created only when no admin exists) and sign-in tokens.
    admin_user: str | None = Field(default=None, max_length=64)
    admin_password: SecretStr | None = None
    token_ttl_s: float = Field(default=12 * 3600.0, gt=60, le=7 * 86400)
    metrics_token: SecretStr | None = None  # Prometheus' bearer token for /metrics (24+ chars)

    # Evidence: snapshot and clip per alert.
    evidence_pre_roll_s: float = Field(default=10.0, ge=0, le=60)
    evidence_post_roll_s: float = Field(default=20.0, ge=0, le=120)
    evidence_jpeg_quality: int = Field(default=85, ge=1, le=100)
    evidence_max_in_flight: int = Field(default=16, ge=1)
    evidence_max_age_s: float = Field(default=30 * 86400.0, gt=0)
    evidence_max_bytes: int = Field(default=20 * 2**30, ge=10**6)
    evidence_drain_budget_s: float = Field(default=10.0, gt=0)
    # `on_alert` main streams open at once; an incident beyond it takes its evidence from the
    # sub-stream, and says so (an alert storm must not open 200 main streams).
    alert_mains_max: int = Field(default=25, ge=0, le=1000)

    # Evidence in S3-compatible object storage (MinIO, AWS S3, Ceph RGW), shared by every hub:
    # each hub writes its evidence to its own disk first, then uploads it (alerts/evidence/
    # objects.py); any hub serves any ticket's evidence, from its disk or from the bucket.
    s3_endpoint: str | None = Field(default=None, pattern=r"^https?://[^/\s]+/?$")
    s3_bucket: str = Field(default="riverwatch", pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
    s3_access_key: SecretStr | None = None
    s3_secret_key: SecretStr | None = None
    s3_region: str | None = Field(default=None, max_length=64)
    # The key of signed evidence links in chat messages (riverwatch/share.py); unset, one is
    # made in the files root. Hubs that do not share a files root need the same key here.
    share_key: SecretStr | None = Field(default=None, min_length=32)
    # Web Push: the site's VAPID private key (PEM); unset, one is made in the files root. Hubs
    # that do not share a files root need the same key: a phone subscribes to one key.
    vapid_private_key: SecretStr | None = None
    # Who the push services may contact about this site (RFC 8292 `sub`): mailto: or https:;
    # unset, the notify config's public_url.
    push_contact: str | None = Field(default=None, pattern=r"^(mailto:\S+@\S+|https://\S+)$")

    # More than one hub: every hub with `cluster` on and the same config and Redis shares the
    # cameras (hub/cluster): each camera runs on exactly one live hub, and a dead hub's cameras
    # move to the others within `cluster_lease_s` plus a few seconds.
    cluster: bool = False
    hub_id: str | None = Field(default=None, pattern=r"^\S{1,64}$")  # default: host-pid
    hub_capacity: int | None = Field(default=None, ge=0)  # most cameras this hub takes
    spare_cameras: int | None = Field(default=None, ge=0, le=1000)  # rows for cameras added live
    cluster_lease_s: float = Field(default=10.0, ge=1.0, le=120.0)
    # How the other hubs reach this hub's API (live-view offers of its cameras are passed to
    # it), e.g. http://hub-a:8080; default: this host's name and `port`.
    hub_url: str | None = Field(default=None, pattern=r"^https?://\S+$")

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_log_level(cls, value: object) -> object:
        """Accept `debug` as well as `DEBUG`: people type level names in either case."""
        return value.strip().upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _s3_needs_keys(self) -> Settings:
        keys = (self.s3_access_key, self.s3_secret_key)
        if self.s3_endpoint is not None and None in keys:
            raise ValueError(
                "RIVERWATCH_S3_ENDPOINT: set RIVERWATCH_S3_ACCESS_KEY and _S3_SECRET_KEY too"
            )
        return self

    @model_validator(mode="after")
    def _cluster_needs_shared_redis(self) -> Settings:
        if self.redis_url is not None and self.redis_sentinels is not None:
            raise ValueError("REDIS_URL and RIVERWATCH_REDIS_SENTINELS: set one of them")
        if self.cluster and self.redis_url is None and self.redis_sentinels is None:
            raise ValueError(
                "cluster: hubs share cameras through one Redis; set REDIS_URL or "
                "RIVERWATCH_REDIS_SENTINELS (without them each hub runs its own embedded Redis)"
            )
        return self

    @property
    def sentinel_addresses(self) -> list[tuple[str, int]]:
        """(host, port) of each sentinel; empty without Sentinel."""
        if self.redis_sentinels is None:
            return []
        pairs = (item.rpartition(":") for item in self.redis_sentinels.split(","))
        return [(host, int(port)) for host, _, port in pairs]

    @property
    def own_redis(self) -> bool:
        """Whether the hub runs its embedded Redis (no URL, no sentinels)."""
        return self.redis_url is None and self.redis_sentinels is None

    @property
    def files_root(self) -> Path:
        """Where evidence, attachments and labels live (`files_dir`, else the data dir)."""
        return self.files_dir if self.files_dir is not None else self.data_dir

    @property
    def node_id(self) -> str:
        """This hub's name among hubs, and its queue consumers' names: `hub_id`, else the
        host's name (in a cluster, with the process id: hubs may share a host)."""
        if self.hub_id:
            return self.hub_id
        host = socket.gethostname()
        return f"{host}-{os.getpid()}" if self.cluster else host

    @property
    def advertised_url(self) -> str:
        """This hub's API as the other hubs reach it (`hub_url`, else host name and port)."""
        if self.hub_url is not None:
            return self.hub_url.rstrip("/")
        host = socket.gethostname() if self.host in ("0.0.0.0", "::") else self.host
        return f"http://{host}:{self.port}"

    @property
    def analysis_shape_hw(self) -> tuple[int, int]:
        """(height, width) of one analysis frame."""
        return (self.analysis_height, self.analysis_width)


# Variables with the prefix that are not settings: the simulator's, the scripts', compose's.
_NOT_SETTINGS = re.compile(r"RIVERWATCH_(SIM_\w+|VENV|CONFIG|DATA|SHOTS)")


def unknown_settings(environ: Mapping[str, str]) -> list[str]:
    """A line for each `RIVERWATCH_*` variable that is no setting (pydantic-settings ignores
    them, so a misspelt one would leave its setting at the default without a word), with the
    setting it was probably meant to be."""
    known = {f"RIVERWATCH_{name.upper()}" for name in Settings.model_fields}
    out = []
    for name in sorted(environ):
        if not name.startswith("RIVERWATCH_") or name in known or _NOT_SETTINGS.fullmatch(name):
            continue
        close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.75)
        hint = f"; did you mean {close[0]}?" if close else ""
        out.append(f"{name} is not a setting and is ignored{hint}")
    return out
