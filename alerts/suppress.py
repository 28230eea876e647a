"""Suppression windows set by an operator: "no alerts from this camera/zone/rule until ...".

A window names a camera, and optionally a zone and a rule (unset means every one), a time span
and the reason (works on the bridge, a licensed survey boat). Windows are kept in a small JSON
file under the data directory, written atomically, so they survive a restart; expired windows
are dropped when the file is next written.

`add` and `remove` write and fsync the file, so async callers run them in a worker thread
(`asyncio.to_thread`); the windows are replaced, never changed in place, so `covers` on the
event loop always reads one whole set while a write is under way.
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
    """The operator's windows, persisted in `<data_dir>/suppressions.json`; `add` and `remove`
    block on the disk and may run in a worker thread."""

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
            windows = dict(self._windows)
            if now is not None:
                _drop_expired(windows, now)
            if len(windows) >= MAX_WINDOWS:
                raise SuppressionError(f"at most {MAX_WINDOWS} suppression windows")
            windows[window.window_id] = window
            self._save(windows)
            self._windows = windows  # one assignment: readers see the old set or the new one
        return window

    def remove(self, window_id: str) -> bool:
        """End a window early; False when there is no such window."""
        with self._lock:
            windows = dict(self._windows)
            if windows.pop(window_id, None) is None:
                return False
            self._save(windows)
            self._windows = windows
        return True

    def active(self, now: float) -> list[SuppressionWindow]:
        """Windows not yet over, soonest end first."""
        return sorted((w for w in self._windows.values() if w.end > now), key=lambda w: w.end)

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

    def _save(self, windows: dict[str, SuppressionWindow]) -> None:
        rows = [asdict(w) for w in windows.values()]
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


def _drop_expired(windows: dict[str, SuppressionWindow], now: float) -> None:
    for key in [k for k, w in windows.items() if w.end <= now]:
        del windows[key]
