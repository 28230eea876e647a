"""Keeping credentials out of every log line, API answer, metric label and error message.

Camera URLs carry passwords. Everything that shows a URL shows `redact_url(url)`; everything
that shows an error from a library (PyAV puts the URL it opened into its messages) passes it
through a `Redactor`, which knows every secret the configuration resolved. `RedactingFilter`
applies the same to log records as a last line of defence.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "***"
_SECRET_QUERY_KEYS = frozenset(
    {"password", "passwd", "pwd", "pass", "token", "auth", "key", "secret", "apikey", "api_key"}
)
_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^/@\s]+)@")


def redact_url(url: str) -> str:
    """Return `url` without its user info and without secret-looking query values.

    >>> redact_url("rtsp://admin:pw@10.0.0.5:554/ch1?token=abc&ch=1")
    'rtsp://***@10.0.0.5:554/ch1?token=%2A%2A%2A&ch=1'
    """
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = MASK + "@" + netloc.rsplit("@", 1)[1]
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, MASK if k.lower() in _SECRET_QUERY_KEYS else v) for k, v in pairs])
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


class Redactor:
    """Replaces every known secret, and any URL user info, in a piece of text.

    >>> r = Redactor(["hunter2"])
    >>> r.scrub("open failed: rtsp://cam:hunter2@host/x (password hunter2)")
    'open failed: rtsp://***@host/x (password ***)'
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str) -> None:
        """Remember a secret; very short values are skipped to avoid masking ordinary text."""
        if len(secret) >= 3:
            self._secrets.add(secret)

    def merge(self, other: Redactor) -> None:
        """Learn every secret `other` knows (a new configuration's, for the same logs)."""
        self._secrets |= other._secrets

    def mask(self, text: str) -> str:
        """Return `text` with every known secret value masked (placeholders such as
        `${CAM_PASS}` are names, not values: they stay)."""
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, MASK)
        return text

    def scrub(self, text: str) -> str:
        """Return `text` with URL user info and every known secret masked."""
        return self.mask(_USERINFO.sub(lambda m: m.group("scheme") + MASK + "@", text))


class RedactingFilter(logging.Filter):
    """A handler filter that scrubs the message and any traceback of each record."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self._redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self._redactor.scrub(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._redactor.scrub(record.exc_text)
        return True


def describe_error(exc: BaseException, redactor: Redactor) -> str:
    """A one-line, credential-free description of an exception for health and API output."""
    return redactor.scrub(f"{type(exc).__name__}: {exc}")
