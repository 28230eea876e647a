"""The MQTT subscriber: readings from a broker, with reconnect, backoff and counted rejects.

Topics and payloads (one reading per message, QoS 0 or 1, not retained):

    topic    <topic_prefix>/<sensor_id>            e.g. riverwatch/sensors/heng-turb-02
    payload  {"value": 37.5, "unit": "NTU", "ts": 1767225600.25}
             {"value": 3.42, "unit": "m", "ts": "2026-01-01T08:00:00+08:00"}

`value` is a JSON number in the sensor kind's unit (water_level m, turbidity NTU, noise dBA,
rainfall mm/h, flow m3/s; a water level may also come in cm or mm); `ts` is epoch seconds or
ISO-8601 with an offset, and may be omitted (arrival time). Payloads larger than
`max_payload_bytes` are refused unread. Every refused message is counted by reason and never
stops the flow of valid ones.

The subscriber holds a persistent session (fixed client id, clean_session off) so QoS 1
messages the broker keeps while the hub reconnects are delivered when it is back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

import aiomqtt

from ingest.sensors.errors import ReadingRejected, RejectReason
from ingest.sensors.reading import Reading, parse_mqtt
from riverwatch.backoff import backoff_delay
from riverwatch.sensor_config import MqttConfig

log = logging.getLogger(__name__)

# Messages aiomqtt may hold before our loop takes them; more are dropped (and counted).
_INCOMING_QUEUE = 10_000


@dataclass(frozen=True, slots=True)
class MqttStatus:
    """A point-in-time copy of the subscriber's figures."""

    connected: bool
    connects: int
    connection_errors: int
    messages: int
    last_error: str | None


class MqttSubscriber:
    """Subscribes to `<prefix>/+` and hands each parsed reading to `on_reading`.

    `run()` runs until cancelled: connect, subscribe, read; on a lost connection, wait with
    backoff and jitter and connect again. Messages that cannot be parsed go to `on_reject`.
    """

    def __init__(
        self,
        config: MqttConfig,
        on_reading: Callable[[Reading], object],
        on_reject: Callable[[ReadingRejected], None],
        clock: Callable[[], float],
    ) -> None:
        self._config = config
        self._on_reading = on_reading
        self._on_reject = on_reject
        self._clock = clock
        self._connected = False
        self._connects = 0
        self._errors = 0
        self._messages = 0
        self._last_error: str | None = None
        self._ready = asyncio.Event()

    def status(self) -> MqttStatus:
        """Connection state and message counts."""
        return MqttStatus(
            self._connected, self._connects, self._errors, self._messages, self._last_error
        )

    async def wait_subscribed(self) -> None:
        """Return once the subscriber holds a live subscription."""
        await self._ready.wait()

    async def run(self) -> None:
        """Read messages forever, reconnecting with backoff; ends only by cancellation."""
        attempt = 0
        while True:
            connects_before = self._connects
            try:
                await self._session()
            except aiomqtt.MqttError as exc:
                self._errors += 1
                # aiomqtt's messages name the broker host, never the password.
                self._last_error = f"{type(exc).__name__}: {exc}"
                log.warning(
                    "mqtt %s:%d: %s", self._config.host, self._config.port, self._last_error
                )
            finally:
                self._connected = False
                self._ready.clear()
            # A session that got as far as subscribing starts the backoff over.
            attempt = 0 if self._connects > connects_before else attempt + 1
            await asyncio.sleep(
                backoff_delay(attempt, self._config.backoff_base_s, self._config.backoff_max_s)
            )

    async def _session(self) -> None:
        cfg = self._config
        password = cfg.password.get_secret_value() if cfg.password is not None else None
        async with aiomqtt.Client(
            cfg.host,
            cfg.port,
            username=cfg.username,
            password=password,
            identifier=cfg.client_id,
            clean_session=False,
            keepalive=cfg.keepalive_s,
            timeout=cfg.connect_timeout_s,
            queue_type=_counting_queue(self._dropped),
            max_queued_incoming_messages=_INCOMING_QUEUE,
        ) as client:
            await client.subscribe(f"{cfg.topic_prefix}/+", qos=cfg.qos)
            self._connected = True
            self._connects += 1
            self._ready.set()
            log.info("mqtt %s:%d: subscribed to %s/+", cfg.host, cfg.port, cfg.topic_prefix)
            async for message in client.messages:
                self._handle(message.topic.value, message.payload)

    def _handle(self, topic: str, payload: object) -> None:
        self._messages += 1
        if isinstance(payload, str):
            payload = payload.encode()
        if not isinstance(payload, (bytes, bytearray)):
            payload = b""  # aiomqtt decodes nothing itself; an empty payload is not JSON
        try:
            reading = parse_mqtt(
                topic,
                bytes(payload),
                self._config.topic_prefix,
                self._config.max_payload_bytes,
                self._clock(),
            )
        except ReadingRejected as exc:
            self._on_reject(exc)
            return
        self._on_reading(reading)

    def _dropped(self) -> None:
        self._on_reject(ReadingRejected(RejectReason.QUEUE_FULL, "mqtt incoming queue full"))


def _counting_queue(on_drop: Callable[[], None]) -> type[asyncio.Queue[aiomqtt.Message]]:
    """A queue class for aiomqtt that reports each message it has to discard."""

    class _CountingQueue(asyncio.Queue[aiomqtt.Message]):
        def put_nowait(self, item: aiomqtt.Message) -> None:
            try:
                super().put_nowait(item)
            except asyncio.QueueFull:
                on_drop()
                raise

    return _CountingQueue
