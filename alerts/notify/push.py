"""Web Push to the enforcement team's phones: a new incident or an escalation for the groups an
officer chose arrives as a notification, with the page closed.

The browser subscribes with the site's VAPID public key (`GET /api/push/key`) and hands the
hub its subscription (`POST /api/push/subscriptions`): the push service's endpoint, the
browser's P-256 key (`p256dh`) and its auth secret. For each incident the hub sends each
matching subscription its own request, made with `pywebpush` (payload encrypted to that
browser's key, RFC 8291 `aes128gcm`) and `py_vapid` (an ES256 token for the endpoint's origin,
RFC 8292), through the notifier's queue, timeouts and retries. A subscription the push service
says is gone (404, 410) is deleted.

The VAPID key pair is made at first start in `<files_root>/vapid.pem` (0600); hubs that do
not share a files root are given one key (`RIVERWATCH_VAPID_PRIVATE_KEY`), since a browser's
subscription is bound to the key it subscribed with. Subscriptions are in the hub's database
(`push_subscriptions`), so any hub of a cluster sends them; each hub reads them again every
`refresh_s`.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote_plus, urlsplit

import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02
from pywebpush import WebPusher
from sqlalchemy.ext.asyncio import AsyncEngine

from alerts.notify.delivery import HttpCall, Job, delivery_id_for
from riverwatch.files import secret_file
from riverwatch.notify_config import RetryPolicy
from riverwatch.share import ShareLinks
from riverwatch.types import Alert

log = logging.getLogger(__name__)

KEY_FILE = "vapid.pem"
EVENTS = ("alert.open", "ticket.escalated")
TTL_S = 3600  # a notification an hour late is not worth waking a phone for
GONE = (404, 410)

metadata = sa.MetaData()

push_subscriptions = sa.Table(
    "push_subscriptions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("username", sa.String(64), nullable=False, index=True),
    sa.Column("endpoint", sa.String(1000), nullable=False, unique=True),
    sa.Column("p256dh", sa.String(200), nullable=False),
    sa.Column("auth", sa.String(64), nullable=False),
    sa.Column("groups", sa.Text, nullable=False, default=""),  # comma-separated; empty: all
    sa.Column("created_at", sa.Double, nullable=False),
)


class PushKeyError(ValueError):
    """The VAPID key cannot be read or made."""


@dataclass(frozen=True, slots=True)
class Subscription:
    """One browser's subscription, for one officer and the groups they chose (empty: all)."""

    id: int
    username: str
    endpoint: str
    p256dh: str
    auth: str
    groups: tuple[str, ...]
    created_at: float

    def wants(self, group: str) -> bool:
        """Whether an incident of `group` goes to this subscription."""
        return not self.groups or group in self.groups


class VapidKey:
    """The site's VAPID key pair."""

    def __init__(self, private_pem: bytes) -> None:
        try:
            self._vapid = Vapid02.from_pem(private_pem)
        except Exception as exc:  # py_vapid raises whatever cryptography does
            raise PushKeyError(f"the VAPID key is not a P-256 private key in PEM: {exc}") from None
        if not isinstance(self._vapid.private_key, ec.EllipticCurvePrivateKey):
            raise PushKeyError("the VAPID key is not an elliptic-curve key")

    @classmethod
    def from_file(cls, root: Path) -> VapidKey:
        """`root/vapid.pem`, made first if there is none (one key for hubs starting together
        on one files root)."""

        def make() -> bytes:
            log.info("push: made the site's VAPID key in %s", root / KEY_FILE)
            return ec.generate_private_key(ec.SECP256R1()).private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )

        try:
            return cls(secret_file(root / KEY_FILE, make))
        except ValueError as exc:
            raise PushKeyError(str(exc)) from None

    @property
    def application_server_key(self) -> str:
        """The public key as browsers take it (`applicationServerKey`): base64url, unpadded,
        of the uncompressed point."""
        raw = self._vapid.public_key.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    def authorization(self, endpoint: str, subject: str, now: float) -> str:
        """The `Authorization: vapid t=…,k=…` value for `endpoint`'s push service."""
        parts = urlsplit(endpoint)
        claims = {"aud": f"{parts.scheme}://{parts.netloc}", "exp": int(now) + 12 * 3600,
                  "sub": subject}  # fmt: skip
        return str(self._vapid.sign(claims)["Authorization"])


class PushSubscriptions:
    """The subscriptions in the hub's database."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def add(
        self, username: str, endpoint: str, p256dh: str, auth: str, groups: Sequence[str]
    ) -> Subscription:
        """Store a subscription (an endpoint subscribed again replaces its row: a phone that
        changed hands or groups)."""
        row = {"username": username, "endpoint": endpoint, "p256dh": p256dh, "auth": auth,
               "groups": ",".join(sorted(set(groups))), "created_at": time.time()}  # fmt: skip
        async with self._engine.begin() as conn:
            await conn.execute(sa.delete(push_subscriptions).where(_at(endpoint)))
            await conn.execute(sa.insert(push_subscriptions).values(**row))
            found = (await conn.execute(sa.select(push_subscriptions).where(_at(endpoint)))).one()
        return _subscription(found._mapping)

    async def remove(self, endpoint: str, username: str | None = None) -> bool:
        """Delete the endpoint's subscription (only `username`'s, when given)."""
        where = _at(endpoint)
        if username is not None:
            where = sa.and_(where, push_subscriptions.c.username == username)
        async with self._engine.begin() as conn:
            result = await conn.execute(sa.delete(push_subscriptions).where(where))
        return bool(result.rowcount)

    async def all(self, username: str | None = None) -> list[Subscription]:
        """Every subscription (or `username`'s), oldest first."""
        query = sa.select(push_subscriptions).order_by(push_subscriptions.c.id)
        if username is not None:
            query = query.where(push_subscriptions.c.username == username)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_subscription(r._mapping) for r in rows]


def _at(endpoint: str) -> sa.ColumnElement[bool]:
    return push_subscriptions.c.endpoint == endpoint


def _subscription(row: sa.RowMapping) -> Subscription:
    groups = tuple(g for g in str(row["groups"]).split(",") if g)
    return Subscription(int(str(row["id"])), str(row["username"]), str(row["endpoint"]),
                        str(row["p256dh"]), str(row["auth"]), groups,
                        float(str(row["created_at"])))  # fmt: skip


class PushChannel:
    """The notifier's push target: one job per matching subscription; each attempt encrypted
    and signed afresh."""

    kind = "push"

    def __init__(
        self,
        key: VapidKey,
        subject: str,
        share: ShareLinks,
        camera_names: Mapping[str, str] | None = None,
        policy: RetryPolicy | None = None,
    ) -> None:
        self._key = key
        self._subject = subject
        self._share = share
        self._names = camera_names or {}
        self._policy = policy or RetryPolicy(max_attempts=4, backoff_max_s=30.0)
        self._subscriptions: tuple[Subscription, ...] = ()
        self.gone: set[str] = set()  # endpoints the push service said are gone, to delete

    @property
    def name(self) -> str:
        """The target's name in figures and logs."""
        return "push"

    @property
    def policy(self) -> RetryPolicy:
        """Timeouts and retries."""
        return self._policy

    @property
    def durable(self) -> bool:
        """Counted when given up on, not dead-lettered: the ticket holds the facts."""
        return False

    def use(self, subscriptions: Sequence[Subscription]) -> None:
        """Send to these from now on (read from the database)."""
        self._subscriptions = tuple(s for s in subscriptions if s.endpoint not in self.gone)

    def job(self, alert: Alert, event: str, now: float, age_s: float = 0.0) -> Job | None:
        """Not used: push makes one job per subscription (`jobs`)."""
        return None

    def jobs(self, alert: Alert, event: str, now: float) -> list[Job]:
        """A job for each subscription that wants this incident's group."""
        if event not in EVENTS:
            return []
        body = json.dumps(self._payload(alert, event), ensure_ascii=False).encode()
        out = []
        for sub in self._subscriptions:
            if sub.wants(alert.group):
                delivery = delivery_id_for(f"push:{sub.id}", event, alert.message_id)
                context = {"endpoint": sub.endpoint, "p256dh": sub.p256dh, "auth": sub.auth}
                out.append(Job("push", delivery, event, alert.alert_id, body, now,
                               context=context))  # fmt: skip
        return out

    def call(self, job: Job) -> HttpCall:
        """POST the payload, encrypted to the subscription's key, with a fresh VAPID token."""
        endpoint = job.context["endpoint"]
        info = {"endpoint": endpoint,
                "keys": {"p256dh": job.context["p256dh"], "auth": job.context["auth"]}}  # fmt: skip
        encrypted = WebPusher(info).encode(job.body, "aes128gcm")["body"]
        headers = {
            "authorization": self._key.authorization(endpoint, self._subject, time.time()),
            "content-encoding": "aes128gcm",
            "content-type": "application/octet-stream",
            "ttl": str(TTL_S),
            "urgency": "high",
        }
        return HttpCall("POST", endpoint, headers, bytes(encrypted))

    def given_up(self, job: Job) -> None:
        """A subscription the push service no longer knows is deleted (soon)."""
        if job.last_status in GONE:
            self.gone.add(job.context["endpoint"])

    def _payload(self, alert: Alert, event: str) -> dict[str, str]:
        camera = self._names.get(alert.camera_id, alert.camera_id)
        verb = "Escalated" if event == "ticket.escalated" else "New"
        when = datetime.fromtimestamp(alert.started_at, UTC).strftime("%H:%M UTC")
        return {
            "title": f"{verb} {alert.severity}: {alert.rule} at {camera}",
            "body": f"{camera} · zone {alert.zone_id or '-'} · since {when}",
            "url": f"/inbox?alert={quote_plus(alert.alert_id)}",
            "image": self._share.path(alert.alert_id, "snapshot"),
            "tag": alert.alert_id,
            "camera_id": alert.camera_id,
            "rule": alert.rule,
            "event": event,
        }


class PushService:
    """Subscriptions, the key and the channel of one hub; `run` keeps the channel's list
    fresh and deletes gone subscriptions (a supervised task)."""

    def __init__(
        self,
        store: PushSubscriptions,
        key: VapidKey,
        channel: PushChannel,
        refresh_s: float = 30.0,
    ) -> None:
        self.store = store
        self.key = key
        self.channel = channel
        self._refresh_s = refresh_s

    async def refresh(self) -> None:
        """Delete what the push service said is gone; read the subscriptions again."""
        for endpoint in list(self.channel.gone):
            await self.store.remove(endpoint)
            log.info("push: a subscription the push service no longer knows was deleted")
        self.channel.use(await self.store.all())
        self.channel.gone.clear()

    async def run(self) -> None:
        """Refresh every `refresh_s`, for ever."""
        while True:
            await self.refresh()
            await asyncio.sleep(self._refresh_s)
