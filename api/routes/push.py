"""Web Push subscriptions: an officer's phone asks for the site's key, subscribes in the
browser, and hands the hub its subscription; new incidents and escalations of the groups it
chose then arrive as notifications with the page closed (`alerts/notify/push.py`)."""

from __future__ import annotations

import base64
import binascii
import ipaddress
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, HTTPException, Query, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from alerts.notify.push import Subscription
from api.deps import HubDep
from api.security.deps import AUTH_RESPONSES, AuditDep, Officer

router = APIRouter(prefix="/api/push", tags=["push"], responses=AUTH_RESPONSES)

_ENDPOINT = "https://fcm.googleapis.com/fcm/send/dXo3-example"
_P256DH = "BOr0Yb3Y2x1bXVH5mNgUxgA7t0fQ8e6yL0eG1wAqfP0xjHc5v8cJ6nQw2Yk9o4hTq7Zr3sLmNcP1aDfGhJkLmN"


class Keys(BaseModel):
    """The browser's keys, as `PushSubscription.toJSON()` gives them (base64url)."""

    model_config = ConfigDict(extra="forbid")
    p256dh: str = Field(max_length=200, examples=[_P256DH])
    auth: str = Field(max_length=64, examples=["x2cVzHj3kQ1oF8tR5mNbVw"])

    @field_validator("p256dh")
    @classmethod
    def _point(cls, value: str) -> str:
        raw = _b64url(value, "p256dh")
        if len(raw) != 65 or raw[0] != 4:
            raise ValueError("p256dh: want an uncompressed P-256 point (65 bytes)")
        return value

    @field_validator("auth")
    @classmethod
    def _secret(cls, value: str) -> str:
        if len(_b64url(value, "auth")) != 16:
            raise ValueError("auth: want a 16-byte secret")
        return value


class SubscribeIn(BaseModel):
    """A subscription and the groups whose incidents it wants (none: every group)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"endpoint": _ENDPOINT, "groups": ["jinsha"], "keys": {
            "p256dh": _P256DH, "auth": "x2cVzHj3kQ1oF8tR5mNbVw"}}]},
    )  # fmt: skip
    endpoint: str = Field(max_length=1000, examples=[_ENDPOINT])
    keys: Keys
    groups: list[str] = Field(default_factory=list, max_length=100, examples=[["jinsha"]])

    @field_validator("endpoint")
    @classmethod
    def _push_service(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme == "https" and parts.hostname:
            return value
        if parts.scheme == "http" and _loopback(parts.hostname):
            return value  # a push service on this machine (tests, a local relay)
        raise ValueError("endpoint: a push service's https:// URL")


class SubscriptionOut(BaseModel):
    """A stored subscription (its keys are not shown again)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"id": 3, "endpoint": _ENDPOINT, "groups": ["jinsha"], "created_at": 1767225600.0}
            ]
        }
    )

    id: int = Field(examples=[3])
    endpoint: str = Field(examples=[_ENDPOINT])
    groups: list[str] = Field(examples=[["jinsha"]])
    created_at: float = Field(examples=[1767225600.0])


class KeyOut(BaseModel):
    """The site's VAPID public key: `applicationServerKey` for `pushManager.subscribe`."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"public_key": _P256DH}]})

    public_key: str = Field(examples=["BPq8…"])


def _b64url(value: str, name: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        raise ValueError(f"{name}: not base64url") from None


def _loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _out(sub: Subscription) -> SubscriptionOut:
    return SubscriptionOut(
        id=sub.id, endpoint=sub.endpoint, groups=list(sub.groups), created_at=sub.created_at
    )


@router.get("/key", summary="The site's Web Push public key")
async def key(_: Officer, hub: HubDep) -> KeyOut:
    """The key a browser subscribes with (`applicationServerKey`)."""
    return KeyOut(public_key=hub.push().key.application_server_key)


@router.get("/subscriptions", summary="My phones' subscriptions")
async def mine(user: Officer, hub: HubDep) -> list[SubscriptionOut]:
    """The signed-in officer's subscriptions, oldest first."""
    return [_out(s) for s in await hub.push().store.all(user.username)]


@router.post(
    "/subscriptions",
    status_code=201,
    summary="Subscribe a phone",
    responses={422: {"description": "a bad key, endpoint or group"}},
)
async def subscribe(
    body: SubscribeIn, user: Officer, hub: HubDep, audit: AuditDep
) -> SubscriptionOut:
    """Store the browser's subscription; incidents of `groups` (all when empty) go to it."""
    known = hub.group_ids()
    unknown = sorted(set(body.groups) - known)
    if unknown:
        raise HTTPException(422, f"groups: no such group {', '.join(unknown)}")
    service = hub.push()
    sub = await service.store.add(
        user.username, body.endpoint, body.keys.p256dh, body.keys.auth, body.groups
    )
    await service.refresh()
    await audit.record("push.subscribe", urlsplit(body.endpoint).netloc, {"groups": body.groups})
    return _out(sub)


@router.delete(
    "/subscriptions",
    status_code=204,
    summary="Unsubscribe a phone",
    responses={404: {"description": "no such subscription of yours"}},
)
async def unsubscribe(
    user: Officer,
    hub: HubDep,
    audit: AuditDep,
    endpoint: Annotated[str, Query(max_length=1000, examples=[_ENDPOINT])],
) -> Response:
    """Remove the signed-in officer's subscription of `endpoint`."""
    service = hub.push()
    if not await service.store.remove(endpoint, user.username):
        raise HTTPException(404, "no such subscription of yours")
    await service.refresh()
    await audit.record("push.unsubscribe", urlsplit(endpoint).netloc)
    return Response(status_code=204)
