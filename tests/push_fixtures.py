"""A phone's side of Web Push, for the tests: a browser's subscription keys, and the checks a
push service and the browser make on what the hub sends (the VAPID token, RFC 8292; the
payload decrypted with the subscription's private key, RFC 8291)."""

from __future__ import annotations

import base64
import json
import os
import time
from dataclasses import dataclass
from typing import Any

import http_ece
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from tests.notify_fixtures import Received


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Phone:
    """A browser's push subscription keys: its P-256 key pair and auth secret."""

    private_key: ec.EllipticCurvePrivateKey
    auth: bytes

    @classmethod
    def new(cls) -> Phone:
        return cls(ec.generate_private_key(ec.SECP256R1()), os.urandom(16))

    @property
    def p256dh(self) -> str:
        raw = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return b64url(raw)

    def keys(self) -> dict[str, str]:
        return {"p256dh": self.p256dh, "auth": b64url(self.auth)}

    def read(self, request: Received, server_key: str, audience: str) -> dict[str, Any]:
        """What the push service and the browser check, then the decrypted payload."""
        assert request.headers["content-encoding"] == "aes128gcm"
        assert int(request.headers["ttl"]) > 0
        claims = check_vapid(request.headers["authorization"], server_key)
        assert claims["aud"] == audience
        assert time.time() < claims["exp"] <= time.time() + 24 * 3600
        assert str(claims["sub"]).startswith(("mailto:", "https://", "http://"))
        plain = http_ece.decrypt(
            request.body, private_key=self.private_key, auth_secret=self.auth,
            version="aes128gcm",
        )  # fmt: skip
        payload: dict[str, Any] = json.loads(plain)
        return payload


def check_vapid(header: str, server_key: str) -> dict[str, Any]:
    """`vapid t=<JWT>,k=<key>`: the key is the site's, the JWT an ES256 token it signed."""
    scheme, _, rest = header.partition(" ")
    assert scheme == "vapid"
    parts = dict(item.split("=", 1) for item in rest.split(","))
    assert parts["k"] == server_key
    head, body, signature = parts["t"].split(".")
    assert json.loads(unb64url(head)) == {"typ": "JWT", "alg": "ES256"}
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(parts["k"]))
    raw = unb64url(signature)
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    public.verify(der, f"{head}.{body}".encode(), ec.ECDSA(hashes.SHA256()))  # raises if forged
    claims: dict[str, Any] = json.loads(unb64url(body))
    return claims
