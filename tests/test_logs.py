"""The JSON log format: one object per line with time, level, logger, message and the camera,
secrets masked in the message and the traceback alike."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from riverwatch.logs import setup_logging
from riverwatch.secrets import Redactor


@pytest.fixture
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_json_lines(restore_root: None, capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging("INFO", Redactor(["hunter2"]), fmt="json")
    log = logging.getLogger("ingest.camera")
    log.info("camera jinsha-001: open failed on %s", "rtsp://admin:hunter2@10.0.0.5/ch1")
    log.warning("ticket %d opened", 7, extra={"camera_id": "heng-2"})
    logging.getLogger("alerts").debug("not shown at INFO")
    try:
        raise RuntimeError("password hunter2 refused")
    except RuntimeError:
        logging.getLogger("alerts").exception("delivery failed")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [(e["level"], e["logger"], e.get("camera")) for e in lines] == [
        ("INFO", "ingest.camera", "jinsha-001"),
        ("WARNING", "ingest.camera", "heng-2"),
        ("ERROR", "alerts", None),
    ]
    assert lines[0]["message"] == "camera jinsha-001: open failed on rtsp://***@10.0.0.5/ch1"
    assert lines[1]["message"] == "ticket 7 opened"
    assert "RuntimeError: password *** refused" in lines[2]["exc"]
    assert all(e["time"].endswith("Z") and len(e["time"]) == 24 for e in lines)
    assert "hunter2" not in json.dumps(lines)


def test_text_stays_the_default(restore_root: None, capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging("INFO", Redactor(["hunter2"]))
    logging.getLogger("ingest.camera").info("camera c1: password hunter2")
    line = capsys.readouterr().err.strip()
    assert line.endswith("INFO    ingest.camera: camera c1: password ***")
