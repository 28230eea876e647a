"""Suppression windows set by an operator: "no alerts from this camera/zone/rule until ...".

A window names a camera, and optionally a zone and a rule (unset means every one), a time span
and the reason (works on the bridge, a licensed survey boat). Windows are kept in a small JSON
file under the data directory, written atomically, so they survive a restart; expired windows
are dropped when the file is next written.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import tempfile
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

from alerts.errors import AlertsError

log = logging.getLogger(__name__)

MAX_WINDOWS = 10_000


class SuppressionError(AlertsError):
    """A suppression window was refused (bad span, too many) or could not be stored."""


@dataclass(frozen=True, slots=True)
class SuppressionWindow:
    """Alerts matching camera (and zone, rule when set) between `start` and `end` are muted."""

    window_id: str
    camera_id: str
    start: float
    end: float
    reason: str
    created_by: str
    zone_id: str | None = None
    rule: str | None = None

    def covers(self, camera_id: str, zone_id: str, rule: str, at: float) -> bool:
        """Whether an alert at `at` for this camera, zone and rule falls in the window."""
        return (
            self.start <= at < self.end
            and self.camera_id == camera_id
            and (self.zone_id is None or self.zone_id == zone_id)
            and (self.rule is None or self.rule == rule)
        )


class Suppressions:
    """The operator's windows, persisted in `<data_dir>/suppressions.json`."""

    def __init__(self, data_dir: Path) -> None:
        self._path = data_dir / "suppressions.json"
        self._lock = threading.Lock()
        self._windows: dict[str, SuppressionWindow] = self._load()

    def covers(self, camera_id: str, zone_id: str, rule: str, at: float) -> bool:
        """Whether any window mutes this alert."""
        return any(w.covers(camera_id, zone_id, rule, at) for w in self._windows.values())

    def add(
        self,
        camera_id: str,
        start: float,
        end: float,
        reason: str,
        created_by: str,
        zone_id: str | None = None,
        rule: str | None = None,
        now: float | None = None,
    ) -> SuppressionWindow:
        """Store a new window; raises `SuppressionError` for an empty span or a full store."""
        if end <= start:
            raise SuppressionError("a suppression window must end after it starts")
        if not reason.strip():
            raise SuppressionError("a suppression window needs a reason")
        window = SuppressionWindow(
            secrets.token_hex(8), camera_id, start, end, reason, created_by, zone_id, rule
        )
        with self._lock:
            if now is not None:
                self._drop_expired(now)
            if len(self._windows) >= MAX_WINDOWS:
                raise SuppressionError(f"at most {MAX_WINDOWS} suppression windows")
            self._windows[window.window_id] = window
            self._save()
        return window

    def remove(self, window_id: str) -> bool:
        """End a window early; False when there is no such window."""
        with self._lock:
            if self._windows.pop(window_id, None) is None:
                return False
            self._save()
        return True

    def active(self, now: float) -> list[SuppressionWindow]:
        """Windows not yet over, soonest end first."""
        return sorted((w for w in self._windows.values() if w.end > now), key=lambda w: w.end)

    def _drop_expired(self, now: float) -> None:
        for key in [k for k, w in self._windows.items() if w.end <= now]:
            del self._windows[key]

    def _load(self) -> dict[str, SuppressionWindow]:
        try:
            rows = json.loads(self._path.read_text())
            windows = [SuppressionWindow(**row) for row in rows]
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, TypeError) as exc:
            # Unreadable windows must not stop the hub; alerting on is the safe side.
            log.error("suppressions: ignoring unreadable %s (%s)", self._path, exc)
            return {}
        return {w.window_id: w for w in windows}

    def _save(self) -> None:
        rows = [asdict(w) for w in self._windows.values()]
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self._path.parent, prefix=".suppressions-")
            with os.fdopen(fd, "w") as out:
                json.dump(rows, out)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self._path)
        except OSError as exc:
            raise SuppressionError(f"cannot store suppression windows: {exc.strerror}") from exc
