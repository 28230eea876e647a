"""Webhook signatures: what the hub sends and how a receiver checks it.

Every delivery is a `POST` with `Content-Type: application/json` and these headers:

    X-Riverwatch-Event:      alert.open            (alert.<phase>, or e.g. ticket.escalated)
    X-Riverwatch-Delivery:   3f0c...e1             (stable across retries and re-drives)
    X-Riverwatch-Timestamp:  1718000000            (Unix seconds when this attempt was signed)
    X-Riverwatch-Signature:  sha256=<hex>          (HMAC-SHA256 of "<timestamp>.<body>")

The body is canonical JSON (keys sorted, no spaces, UTF-8):

    {"alert": {...Alert.to_fields()...}, "delivery_id": "3f0c...e1", "event": "alert.open"}

The body is identical on every attempt of a delivery; only the timestamp and signature change.
A receiver should check the signature on the raw body bytes before parsing them, refuse old
timestamps (replays), and use `delivery_id` to drop a delivery it has already processed (a
retry after a lost answer, or a re-driven dead letter, arrives again with the same id):

    from alerts.notify.signing import verify, SignatureError

    try:
        verify(SECRET, request.headers, await request.body(), tolerance_s=300)
    except SignatureError:
        return Response(status_code=401)

`verify` compares in constant time (`hmac.compare_digest`) and refuses timestamps more than
`tolerance_s` away from the receiver's clock in either direction.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

from pydantic import SecretStr

from alerts.notify.errors import SignatureError

SIGNATURE_HEADER = "X-Riverwatch-Signature"
TIMESTAMP_HEADER = "X-Riverwatch-Timestamp"
DELIVERY_HEADER = "X-Riverwatch-Delivery"
EVENT_HEADER = "X-Riverwatch-Event"
_SCHEME = "sha256="

Secret = str | bytes | SecretStr


def canonical_json(payload: Mapping[str, Any]) -> bytes:
    """The one byte form of a payload that is signed and sent."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def signature(secret: Secret, timestamp: int, body: bytes) -> str:
    """`sha256=<hex>` over `"<timestamp>.<body>"`."""
    mac = hmac.new(_key(secret), f"{timestamp}.".encode() + body, hashlib.sha256)
    return _SCHEME + mac.hexdigest()


def signed_headers(
    secret: Secret, body: bytes, delivery_id: str, event: str, timestamp: int | None = None
) -> dict[str, str]:
    """Headers for one attempt of a delivery, signed at `timestamp` (default: now)."""
    ts = int(time.time()) if timestamp is None else timestamp
    return {
        "Content-Type": "application/json",
        EVENT_HEADER: event,
        DELIVERY_HEADER: delivery_id,
        TIMESTAMP_HEADER: str(ts),
        SIGNATURE_HEADER: signature(secret, ts, body),
    }


def verify(
    secret: Secret,
    headers: Mapping[str, str],
    body: bytes,
    tolerance_s: float = 300.0,
    now: float | None = None,
) -> None:
    """Raise `SignatureError` unless `body` was signed with `secret` within `tolerance_s`.

    `headers` may use any letter case (a plain dict or a framework's header mapping).
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    sent = lowered.get(SIGNATURE_HEADER.lower())
    stamp = lowered.get(TIMESTAMP_HEADER.lower())
    if not sent or not stamp:
        raise SignatureError("signature or timestamp header missing")
    try:
        ts = int(stamp)
    except ValueError:
        raise SignatureError("timestamp is not an integer") from None
    current = time.time() if now is None else now
    if abs(current - ts) > tolerance_s:
        raise SignatureError(f"timestamp outside the {tolerance_s:g} s window")
    expected = signature(secret, ts, body)
    if not hmac.compare_digest(expected.encode(), sent.strip().encode()):
        raise SignatureError("signature does not match")


def _key(secret: Secret) -> bytes:
    if isinstance(secret, SecretStr):
        secret = secret.get_secret_value()
    return secret.encode() if isinstance(secret, str) else secret
