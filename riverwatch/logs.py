"""Logging set-up: one stderr handler whose filter masks every known secret."""

from __future__ import annotations

import logging
import sys

from riverwatch.secrets import RedactingFilter, Redactor

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def setup_logging(level: str, redactor: Redactor) -> None:
    """Route all logging (ours, uvicorn's, libraries') through one redacting handler."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(RedactingFilter(redactor))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("libav").setLevel(logging.ERROR)
