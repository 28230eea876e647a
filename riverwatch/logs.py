"""Logging set-up: one stderr handler whose filter masks every known secret.

Two formats: `text` for people (one line per record) and `json` for log collectors, one
object per line:

    {"time": "2025-11-26T01:30:00.123Z", "level": "INFO", "logger": "ingest.camera",
     "message": "camera jinsha-001: streaming", "camera": "jinsha-001"}

`camera` is there when the record is about one camera: from `extra={"camera_id": ...}`, or
from the `camera <id>:` prefix every ingest line starts with. `exc` holds a traceback. The
redacting filter runs before either format, so both see only scrubbed text.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Literal

from riverwatch.secrets import RedactingFilter, Redactor

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
LogFormat = Literal["text", "json"]

_CAMERA_PREFIX = re.compile(r"^camera (?P<id>[A-Za-z0-9_.:-]+?):\s")


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC, ISO 8601), level, logger, message, camera."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        message = record.getMessage()
        entry: dict[str, str] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": message,
        }
        camera = camera_of(record, message)
        if camera is not None:
            entry["camera"] = camera
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


def camera_of(record: logging.LogRecord, message: str) -> str | None:
    """The camera a record is about, if any."""
    explicit = getattr(record, "camera_id", None)
    if isinstance(explicit, str) and explicit:
        return explicit
    match = _CAMERA_PREFIX.match(message)
    return match.group("id") if match else None


def setup_logging(level: str, redactor: Redactor, fmt: LogFormat = "text") -> None:
    """Route all logging (ours, uvicorn's, libraries') through one redacting handler."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(FORMAT))
    handler.addFilter(RedactingFilter(redactor))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("libav").setLevel(logging.ERROR)
