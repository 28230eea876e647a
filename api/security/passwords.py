"""Password hashing with scrypt (memory-hard, in the standard library).

Each hash carries its parameters and its own random salt: `scrypt$n$r$p$salt$hash` in base64,
so the cost can be raised later and old hashes still verify. Comparison is constant-time.
n=2**14, r=8 costs 16 MiB and about 50 ms per hash here, the interactive-login setting RFC 7914
suggests; hashing runs in a worker thread so a login does not stall the event loop.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets

from api.security.errors import WeakPassword

MIN_LENGTH = 12
MAX_LENGTH = 1024
_N, _R, _P = 2**14, 8, 1
_SALT_BYTES = 16
_KEY_BYTES = 32
_MAXMEM = 64 * 2**20


def check_password(password: str) -> None:
    """Raise WeakPassword unless the password is long enough to be worth hashing."""
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"a password needs at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"a password may have at most {MAX_LENGTH} characters")


def hash_password(password: str) -> str:
    """A self-describing scrypt hash of `password` with a fresh salt."""
    salt = secrets.token_bytes(_SALT_BYTES)
    key = _scrypt(password, salt, _N, _R, _P)
    return f"scrypt${_N}${_R}${_P}${_b64(salt)}${_b64(key)}"


def verify_password(password: str, encoded: str) -> bool:
    """Whether `password` matches `encoded`; False for a malformed hash."""
    try:
        scheme, n, r, p, salt, key = encoded.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(key)
        actual = _scrypt(password, base64.b64decode(salt), int(n), int(r), int(p))
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


@functools.cache
def dummy_hash() -> str:
    """A hash to verify against when the user does not exist, so the answer takes as long."""
    return hash_password(secrets.token_urlsafe(16))


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=_MAXMEM, dklen=_KEY_BYTES
    )


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")
