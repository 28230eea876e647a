"""Keep tokens out of access logs.

GET calls may carry the bearer token as `?token=...` (video, images, server-sent events cannot
send headers), and uvicorn's access log prints the path with its query. This filter masks the
value before any handler sees the line.
"""

from __future__ import annotations

import logging
import re

_TOKEN_QUERY = re.compile(r"([?&]token=)[^&\s\"]*", re.IGNORECASE)
ACCESS_LOGGER = "uvicorn.access"


def mask_token_query(text: str) -> str:
    """`text` with every `token=` query value replaced by `***`.

    >>> mask_token_query('"GET /api/events?token=abc&x=1 HTTP/1.1" 200')
    '"GET /api/events?token=***&x=1 HTTP/1.1" 200'
    """
    return _TOKEN_QUERY.sub(r"\1***", text)


class TokenQueryFilter(logging.Filter):
    """Masks `token=` query values in a record's message (always lets the record through)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the message once, with its arguments merged in."""
        message = record.getMessage()
        masked = mask_token_query(message)
        if masked != message:
            record.msg, record.args = masked, ()
        return True


def install_token_filter(logger_name: str = ACCESS_LOGGER) -> None:
    """Add the filter to the access logger once (create_app may run more than once)."""
    logger = logging.getLogger(logger_name)
    if not any(isinstance(f, TokenQueryFilter) for f in logger.filters):
        logger.addFilter(TokenQueryFilter())
