"""Redaction of URLs and of any text that may carry a secret."""

from __future__ import annotations

import logging

import pytest

from riverwatch.secrets import RedactingFilter, Redactor, redact_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("rtsp://admin:pw@10.0.0.5:554/ch1", "rtsp://***@10.0.0.5:554/ch1"),
        ("rtsp://10.0.0.5/ch1", "rtsp://10.0.0.5/ch1"),
        ("http://h/x?token=abc&ch=1", "http://h/x?token=%2A%2A%2A&ch=1"),
        ("rtsp://user@h/x", "rtsp://***@h/x"),
        ("file:///data/a.ts", "file:///data/a.ts"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_redacting_filter_scrubs_message_args_and_traceback() -> None:
    record = logging.LogRecord(
        "x", logging.ERROR, __file__, 1, "open %s failed", ("rtsp://a:hunter22@h/",), None
    )
    try:
        raise RuntimeError("password hunter22 rejected")
    except RuntimeError:
        import sys

        record.exc_info = sys.exc_info()
    RedactingFilter(Redactor(["hunter22"])).filter(record)
    text = logging.Formatter().format(record)
    assert "hunter22" not in text
    assert "rtsp://***@h/" in text and "password *** rejected" in text
