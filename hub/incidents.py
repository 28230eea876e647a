"""Where an alert goes: from the detectors' events to a ticket, with evidence and notices.

    events ─► AlertPolicy ─► messages ─► AlertPublisher (spool ─► Redis stream)
                                 │            └► AlertConsumer (group) ─► TicketStore.apply
                                 │            └► StreamIntake (own group) ─► Notifier (webhooks,
                                 │                                               field speakers)
                                 └► EvidenceRecorder (open only) ─► evidence message ─► same path
    TicketStore ◄── EscalationRunner (the one-hour rule) ─► Notifier
    sensor readings (MQTT, HTTP) ─► SensorHub ─► threshold / rate alerts ─► same path
                                        └► turbidity downstream raises a dredging alert's score

`IncidentDesk` owns all of it and is started and stopped in phases by the hub: the ticket
store and consumer first (so the queue drains into them), notifications (their consumer group
exists before anything is published), the publisher, then evidence; on the way out evidence
finishes within its budget before the publisher drains.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, replace
from types import TracebackType
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncEngine

from alerts import AlertPolicy, AlertPublisher, Suppressions
from alerts.consumer import AlertConsumer
from alerts.evidence import (
    EvidencePolicy,
    EvidenceRecorder,
    EvidenceStore,
    EvidenceUploads,
    ObjectStore,
)
from alerts.feed import AlertFeed
from alerts.notify import GROUP, Notifier, StreamIntake
from alerts.notify.push import PushChannel, PushService, PushSubscriptions, VapidKey
from alerts.profiles import Profiles
from alerts.tickets import (
    AttachmentStore,
    Escalation,
    EscalationRunner,
    Escalator,
    SlaPolicy,
    TicketStore,
    default_url,
    open_engine,
    safe_url,
)
from hub.schema import ensure_schema
from ingest.sensors import SensorHub
from riverwatch.config import LoadedConfig
from riverwatch.events import Event
from riverwatch.ring import PacketRing
from riverwatch.settings import Settings
from riverwatch.share import ShareLinks
from riverwatch.supervise import Supervisor
from riverwatch.types import Alert, AlertPhase, RuleKind

log = logging.getLogger(__name__)

RingOf = Callable[[str], PacketRing | None]


@dataclass(frozen=True)
class MainOpening:
    """What an incident's open did to its camera's `on_alert` main stream: the ring of a main
    stream it has just opened, or why it did not open one (said on the evidence)."""

    ring: PacketRing | None = None
    note: str = ""


# (camera id, incident opens): an on_alert main stream opens with its camera's incidents and
# closes after the last.
MainSwitch = Callable[[str, bool], MainOpening]


def _no_main(camera_id: str, on: bool) -> MainOpening:
    """A desk without ingest behind it (tests, tools) has no main stream to switch."""
    return MainOpening()


class Owner(Protocol):
    """A clustered hub's say on its cameras' alerts (`hub.runtime`, from `hub.cluster`)."""

    def holding(self, camera_id: str) -> tuple[str, int] | None:
        """(hub id, fencing epoch) while this hub holds the camera, else None."""
        ...

    async def stale(self, alert: Alert) -> bool:
        """Whether the alert opens an incident its hub had no right to any more."""
        ...


class IncidentDesk:
    """`async with IncidentDesk(settings, config, redis, ring_of) as desk: desk.take(events)`."""

    def __init__(
        self,
        settings: Settings,
        config: LoadedConfig,
        redis: Redis,
        ring_of: RingOf,
        supervisor: Supervisor | None = None,
        main_switch: MainSwitch = _no_main,
        owner: Owner | None = None,
    ) -> None:
        self._settings = settings
        self._owner = owner  # in a cluster: stamps camera alerts, fences stale openings
        # Every part's long-lived tasks go through it: one snapshot for readiness and metrics.
        self.supervisor = supervisor or Supervisor()
        self.spool_path = settings.data_dir / "spool" / "alerts.sqlite3"
        self._config = config
        self._redis = redis
        self._ring_of = ring_of
        self._main_switch = main_switch
        self._stack = AsyncExitStack()
        self.suppressions = Suppressions(settings.data_dir)
        self.profiles = Profiles(config.hub.profiles)
        self._names = {c.id: c.config.name for c in config.cameras}
        self.policy = AlertPolicy(
            settings.alert_cooldown_s,
            settings.alert_update_interval_s,
            self.suppressions,
            groups={c.id: c.config.group for c in config.cameras},
            profiles=self.profiles,
        )
        self.sla = SlaPolicy(
            default_s=settings.ticket_sla_s,
            by_severity=dict(settings.ticket_sla_by_severity),
            by_rule=dict(settings.ticket_sla_by_rule),
            escalation_period_s=settings.ticket_escalation_period_s,
            max_level=settings.ticket_escalation_max_level,
        )
        self._tickets: TicketStore | None = None
        self._publisher: AlertPublisher | None = None
        self._notifier: Notifier | None = None
        self._recorder: EvidenceRecorder | None = None
        self.uploads: EvidenceUploads | None = None  # evidence to the shared bucket, if any
        self.share: ShareLinks | None = None  # signed evidence links (chat messages)
        self.push: PushService | None = None  # Web Push to officers' phones
        self._sensors: SensorHub | None = None
        self.consumer: AlertConsumer | None = None
        self.intake: StreamIntake | None = None
        self.feed = AlertFeed()
        self._engine: AsyncEngine | None = None

    def reconfigure(self, config: LoadedConfig) -> None:
        """A new configuration version while running: camera names, groups and profiles
        (the notification channels and sensors keep the start-up ones until a restart)."""
        self._config = config
        self._names.clear()
        self._names.update({c.id: c.config.name for c in config.cameras})
        self.policy.set_groups({c.id: c.config.group for c in config.cameras})
        self.profiles.set_configs(config.hub.profiles)

    async def __aenter__(self) -> IncidentDesk:
        try:
            await self._start()
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._stack.aclose()

    @property
    def tickets(self) -> TicketStore:
        """The closed loop's store."""
        assert self._tickets is not None, "the desk is not started"
        return self._tickets

    @property
    def engine(self) -> AsyncEngine:
        """The SQL engine of tickets and sensor readings (other stores may add tables)."""
        assert self._engine is not None, "the desk is not started"
        return self._engine

    @property
    def publisher(self) -> AlertPublisher:
        """The spool and stream writer."""
        assert self._publisher is not None, "the desk is not started"
        return self._publisher

    @property
    def notifier(self) -> Notifier:
        """Webhooks and field speakers."""
        assert self._notifier is not None, "the desk is not started"
        return self._notifier

    @property
    def sensors(self) -> SensorHub:
        """Sensor readings, their rules and the camera links."""
        assert self._sensors is not None, "the desk is not started"
        return self._sensors

    @property
    def recorder(self) -> EvidenceRecorder:
        """Snapshots and clips."""
        assert self._recorder is not None, "the desk is not started"
        return self._recorder

    def take(self, events: list[Event], now: float) -> None:
        """Fold a tick's events into incidents and send what they call for."""
        for event in events:
            if event.rule is RuleKind.DREDGING:  # a turbid river downstream backs the camera up
                score = self.sensors.dredging_confidence(
                    event.camera_id, event.observed_at, event.confidence
                )
                event = replace(event, confidence=score)
            for message in self.policy.on_event(event):
                self.send(message)
        for message in self.policy.due(now):
            self.send(message)

    def send(self, message: Alert) -> None:
        """Spool and publish one message (notices follow from the stream), and start evidence
        for a camera's open."""
        if self._owner is not None and message.source == "camera":
            held = self._owner.holding(message.camera_id)
            if held is not None:
                message = replace(message, hub_id=held[0], epoch=held[1])
        self.publisher.publish(message)
        self.feed.publish(message)
        if message.source != "camera":
            return
        if message.phase is AlertPhase.OPEN:
            ring = self._ring_of(message.camera_id)  # chosen before an on_alert main opens
            opening = self._main_switch(message.camera_id, True)
            if ring is not None:
                self.recorder.start(message, ring, self._evidence_ready, opening.ring, opening.note)
        elif message.phase is AlertPhase.CLOSE:
            self._main_switch(message.camera_id, False)

    async def send_durably(self, messages: Sequence[Alert]) -> None:
        """Publish sensor messages and return once they are in the spool on disk (raises
        `SpoolUnavailable` when they are not): the sensor hub answers a reading only then."""
        for message in messages:
            self.feed.publish(message)
        await self.publisher.publish_durably(messages)

    def close_incidents(self, note: str = "hub stopping") -> None:
        """Close every open incident: nothing will end them once detection stops."""
        for message in self.policy.close_all(time.time(), note):
            self.send(message)

    async def _evidence_ready(self, message: Alert) -> None:
        self.publisher.publish(message)
        self.feed.publish(message)

    async def _start(self) -> None:
        settings, stack = self._settings, self._stack
        url = (
            settings.ticket_db_url.get_secret_value()
            if settings.ticket_db_url is not None
            else default_url(settings.data_dir)
        )
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        try:  # hand switches survive a restart; the follower retries if Redis is away now
            await self.profiles.load(self._redis)
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("profiles: hand switches not read at start: %s", type(exc).__name__)
        self.supervisor.spawn("profiles:follow", lambda: self.profiles.follow(self._redis))
        self.uploads = uploads = self._make_uploads()
        if uploads is not None:
            self.supervisor.spawn("evidence:uploads", uploads.run)
        engine = self._engine = open_engine(url, settings.ticket_db_timeout_s)
        stack.push_async_callback(engine.dispose)
        await ensure_schema(engine)  # at head, or brand new: else SchemaError, no start
        log.info("tickets: database %s", safe_url(url))
        self._tickets = TicketStore(
            engine,
            settings.files_root,
            self.sla,
            attachment_store=AttachmentStore(
                settings.files_root,
                settings.attachment_max_bytes,
                on_stored=uploads.note if uploads is not None else None,
            ),
        )
        self.consumer = await stack.enter_async_context(
            AlertConsumer(
                self._redis,
                settings.alert_stream,
                settings.consumer_group,
                f"hub-{settings.node_id}",
                self._apply,
                supervisor=self.supervisor,
            )
        )
        names = self._names  # shared with the notifier and push: renames reach them
        self.share = await asyncio.to_thread(share_links, settings)  # may write the key
        self.push = await self._make_push(engine, names)
        self._notifier = await stack.enter_async_context(
            Notifier(
                self._config.hub.notify,
                settings.data_dir,
                names,
                redactor=self._config.redactor,
                supervisor=self.supervisor,
                share=self.share,
                push=self.push.channel,
            )
        )
        # Webhooks and speakers are driven from the stream, so a crash loses none of them;
        # closed before the notifier, it lets in-flight jobs settle and acknowledges them.
        self.intake = await stack.enter_async_context(
            StreamIntake(
                self._redis,
                settings.alert_stream,
                GROUP,
                f"notify-{settings.node_id}",
                self._notifier,
                supervisor=self.supervisor,
            )
        )
        self._publisher = await stack.enter_async_context(
            AlertPublisher(
                self._redis,
                settings.alert_stream,
                settings.alert_stream_maxlen,
                spool_path=self.spool_path,
                supervisor=self.supervisor,
                replicas_ack=settings.redis_replicas_ack,
            )
        )
        escalator = Escalator(engine, self.sla, self._escalated)
        await stack.enter_async_context(
            EscalationRunner(escalator, settings.ticket_scan_period_s, supervisor=self.supervisor)
        )
        self._recorder = self._make_recorder()
        stack.push_async_callback(self._recorder.close)
        self._sensors = await stack.enter_async_context(
            SensorHub(
                self._config.hub.sensors, engine, self.send_durably, supervisor=self.supervisor
            )
        )

    async def _make_push(self, engine: AsyncEngine, names: dict[str, str]) -> PushService:
        """The site's VAPID key (made at first start), the subscriptions, and the task that
        keeps the notifier's list of them fresh."""
        s = self._settings
        if s.vapid_private_key is not None:
            key = VapidKey(s.vapid_private_key.get_secret_value().encode())
        else:
            key = await asyncio.to_thread(VapidKey.from_file, s.files_root)
        public = self._config.hub.notify.public_url or ""
        # RFC 8292's contact is mailto: or https: (push services refuse anything else).
        https = public if public.startswith("https://") else None
        contact = s.push_contact or https or "mailto:riverwatch@localhost"
        assert self.share is not None
        channel = PushChannel(key, contact, self.share, names)
        service = PushService(PushSubscriptions(engine), key, channel)
        await service.refresh()
        self.supervisor.spawn("notify:push-subscriptions", service.run)
        return service

    def _make_uploads(self) -> EvidenceUploads | None:
        """The bucket every hub's evidence goes to, when one is configured."""
        s = self._settings
        if s.s3_endpoint is None or s.s3_access_key is None or s.s3_secret_key is None:
            return None
        objects = ObjectStore(
            s.s3_endpoint,
            s.s3_bucket,
            s.s3_access_key.get_secret_value(),
            s.s3_secret_key.get_secret_value(),
            s.s3_region,
        )
        log.info("evidence: uploaded to %s", objects.where)
        return EvidenceUploads(objects, s.files_root)

    def _make_recorder(self) -> EvidenceRecorder:
        s = self._settings
        uploads = self.uploads
        store = EvidenceStore(
            s.files_root,
            s.evidence_max_age_s,
            s.evidence_max_bytes,
            on_stored=uploads.note if uploads is not None else None,
            pending=uploads.pending if uploads is not None else None,
        )
        policy = EvidencePolicy(
            pre_roll_s=s.evidence_pre_roll_s,
            post_roll_s=s.evidence_post_roll_s,
            analysis_wh=(s.analysis_width, s.analysis_height),
            jpeg_quality=s.evidence_jpeg_quality,
            max_in_flight=s.evidence_max_in_flight,
            poll_s=min(2.0, s.ring_seconds / 4),
            drain_budget_s=s.evidence_drain_budget_s,
        )
        return EvidenceRecorder(store, policy, self.supervisor)

    async def _apply(self, entry_id: str, message: Alert) -> None:
        if self._owner is not None and await self._owner.stale(message):
            return  # acknowledged, never a ticket: a stale owner's duplicate
        await self.tickets.apply(message)

    async def _escalated(self, escalation: Escalation) -> None:
        """Tell the webhooks; the revision is the level, so each level is its own delivery."""
        ticket = await self.tickets.get(escalation.ticket_id)
        notice = Alert(
            alert_id=escalation.alert_id,
            camera_id=ticket.camera_id,
            zone_id=ticket.zone_id,
            rule=ticket.rule,
            severity=ticket.severity,
            started_at=ticket.started_at,
            observed_at=escalation.at,
            frame_seq=ticket.frame_seq,
            score=ticket.score,
            box_xyxy=ticket.box_xyxy,
            phase=AlertPhase.UPDATE,
            revision=escalation.level,
            source=ticket.source,
            sensor_id=ticket.sensor_id,
            group=ticket.group,
            note=f"ticket {escalation.ticket_id} not picked up within its SLA: "
            f"escalated to level {escalation.level}, priority {escalation.priority}",
        )
        self.notifier.notify(notice, event="ticket.escalated")


def share_links(settings: Settings) -> ShareLinks:
    """The site's signed-link key: `RIVERWATCH_SHARE_KEY`, else the files root's key file."""
    if settings.share_key is not None:
        return ShareLinks(settings.share_key.get_secret_value().encode())
    return ShareLinks.from_file(settings.files_root)
