"""Links to an incident's snapshot or clip that open without signing in, for a limited time.

A chat message in the river team's group carries one: whoever is in the group can look at the
boat, and nobody can guess another incident's link. A link is

    /share/<alert_id>/<kind>?exp=<unix seconds>&sig=<hex HMAC-SHA256>

signed with the site's share key over `alert_id`, `kind` and `exp`. The key is
`RIVERWATCH_SHARE_KEY`, else 32 random bytes made at first start in `<files_root>/share.key`
(mode 0600), so hubs that share a files root share it; hubs that do not must be given the same
`RIVERWATCH_SHARE_KEY`, or a link made on one does not open on another.

>>> links = ShareLinks(b"k" * 32)
>>> path = links.path("9f3a0c1d2e4b", "snapshot", now=1_700_000_000.0)
>>> links.check("9f3a0c1d2e4b", "snapshot", *links.parts(path))  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from riverwatch.files import secret_file

KINDS = ("snapshot", "clip")
KEY_FILE = "share.key"
DEFAULT_TTL_S = 7 * 86400.0


class ShareLinks:
    """Makes and checks signed evidence links with one key."""

    def __init__(self, key: bytes, ttl_s: float = DEFAULT_TTL_S) -> None:
        if len(key) < 16:
            raise ValueError("a share key needs at least 16 bytes")
        self._key = key
        self.ttl_s = ttl_s

    @classmethod
    def from_file(cls, root: Path) -> ShareLinks:
        """The key in `root/share.key`, made there first if there is none (one key for hubs
        starting together on one files root)."""
        text = secret_file(root / KEY_FILE, lambda: secrets.token_hex(32).encode()).decode()
        return cls(bytes.fromhex(text.strip()))

    def path(self, alert_id: str, kind: str, now: float | None = None) -> str:
        """The link's path and query, valid for `ttl_s` from `now`."""
        exp = int((time.time() if now is None else now) + self.ttl_s)
        return f"/share/{alert_id}/{kind}?exp={exp}&sig={self._sign(alert_id, kind, exp)}"

    def check(self, alert_id: str, kind: str, exp: int, sig: str, now: float | None = None) -> str:
        """Why the link does not open ('' when it does)."""
        if kind not in KINDS:
            return f"no such evidence: {kind}"
        if not hmac.compare_digest(self._sign(alert_id, kind, exp), sig):
            return "the link's signature does not match"
        if exp < (time.time() if now is None else now):
            return "the link has expired"
        return ""

    @staticmethod
    def parts(path: str) -> tuple[int, str]:
        """(exp, sig) of a link made by `path`."""
        query = parse_qs(urlsplit(path).query)
        return int(query["exp"][0]), query["sig"][0]

    def _sign(self, alert_id: str, kind: str, exp: int) -> str:
        message = f"{alert_id}\n{kind}\n{exp}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()
