"""The notifier: alerts in (sync, never blocking), HTTP calls out from per-target workers.

    StreamIntake ─ submit(alert, on_settled) ─┐
    notify(alert) ────────────────────────────┴► per-target bounded queue ─► worker(s)
                      │ full: oldest dropped          │ given up (webhook)   │ HTTP (timeout,
                      └───────────────┬───────────────┘                      │ retry, backoff)
                                      ▼
                  dead-letter writer (bounded queue) ─► SQLite dead-letter list ─► redrive()

Alert messages come from the alert stream through `alerts.notify.intake.StreamIntake` and
`submit()`: each job reports back when it is settled (delivered, dead-lettered, or a speaker
call given up on), and only then is the stream entry acknowledged, so a crash loses nothing.
`notify()` is the in-memory path for notices that are not on the stream (`ticket.escalated`).
Both only put jobs on in-memory queues, so a slow or dead receiver costs the hub nothing but
its own queue. Each target has its own queue and workers, so one dead receiver never delays
another. Only one task writes dead letters, so disk writes are never done by a delivery
worker or by `submit()`/`notify()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from urllib.parse import parse_qsl, urlsplit

import httpx

from alerts.notify.deadletter import DeadLetter, DeadLetterStore
from alerts.notify.delivery import Channel, Job, TargetStats, event_for
from alerts.notify.errors import DeadLetterStoreError, NotifyError, UnknownTarget
from alerts.notify.push import PushChannel
from alerts.notify.retry import Outcome, Verdict, backoff_s, classify_status, parse_retry_after
from alerts.notify.robots import ANSWER_MAX, RobotChannel
from alerts.notify.speaker import SpeakerChannel
from alerts.notify.webhook import WebhookChannel
from riverwatch.notify_config import NotifyConfig
from riverwatch.secrets import RedactingFilter, Redactor
from riverwatch.share import ShareLinks
from riverwatch.supervise import Supervisor
from riverwatch.types import Alert

log = logging.getLogger(__name__)

DEAD_LETTER_FILE = Path("notify") / "dead_letters.sqlite3"
_WRITER_QUEUE = 10_000
_FIELD = re.compile(r"\{[a-z_]+\}")
_HTTP_LOGGERS = ("httpx", "httpcore")
_QUEUE_FULL = "queue full"
_DEADLINE = "deadline passed"
_SHUTDOWN = "undelivered at shutdown"


@dataclasses.dataclass(frozen=True, slots=True)
class _Letter:
    job: Job
    reason: str


class _Target:
    """One target's bounded queue, workers and counters."""

    def __init__(
        self,
        channel: Channel,
        queue_size: int,
        workers: int,
        owner: Notifier,
    ) -> None:
        self.channel = channel
        kind = getattr(channel, "kind", "webhook" if channel.durable else "speaker")
        self.stats = TargetStats(kind=kind)
        self.queue: asyncio.Queue[Job] = asyncio.Queue(maxsize=queue_size)
        self.inflight: set[Job] = set()
        self.workers = workers
        self._owner = owner

    def offer(self, job: Job) -> None:
        """Queue a job; when full, the oldest goes (dead-lettered if durable) and is counted."""
        if self.queue.full():
            oldest = self.queue.get_nowait()
            self.queue.task_done()
            self.stats.dropped += 1
            if self.stats.dropped % 100 == 1:  # a dead receiver must not flood the log
                log.warning(
                    "notify %s: queue full, %d dropped so far",
                    self.channel.name,
                    self.stats.dropped,
                )
            self._owner.abandon(self, oldest, _QUEUE_FULL)
        self.queue.put_nowait(job)

    async def work_forever(self) -> None:
        while True:
            job = await self.queue.get()
            self.inflight.add(job)
            # Cancelled mid-delivery, the job stays in `inflight` for close() to dead-letter.
            await self._deliver(job)
            self.inflight.discard(job)
            self.queue.task_done()

    async def _deliver(self, job: Job) -> None:
        policy = self.channel.policy
        while True:
            remaining = self._remaining(job)
            if remaining is not None and remaining <= 0:
                self._owner.abandon(self, job, _DEADLINE)
                return
            timeout = policy.timeout_s if remaining is None else min(policy.timeout_s, remaining)
            job.attempts += 1
            outcome = await self._owner.attempt(self.channel, job, timeout)
            job.last_status, job.reason = outcome.status, outcome.reason
            if outcome.verdict is Verdict.DELIVERED:
                self.stats.delivered += 1
                log.info("notify %s: delivered %s (%s)", self.channel.name, job.event, job.alert_id)
                job.settle()
                return
            wait = self._next_wait(job, outcome)
            if wait is None:
                self._owner.abandon(self, job, job.reason)
                return
            remaining = self._remaining(job)
            if remaining is not None and remaining < wait:
                self._owner.abandon(self, job, f"{_DEADLINE} (last: {job.reason})")
                return
            self.stats.retried += 1
            log.info(
                "notify %s: %s for %s, attempt %d; retrying in %.1f s",
                self.channel.name,
                job.reason,
                job.alert_id,
                job.attempts,
                wait,
            )
            await asyncio.sleep(wait)

    def _remaining(self, job: Job) -> float | None:
        return None if job.deadline is None else job.deadline - self._owner.clock()

    def _next_wait(self, job: Job, outcome: Outcome) -> float | None:
        policy = self.channel.policy
        if outcome.verdict is Verdict.GIVE_UP or job.attempts >= policy.max_attempts:
            return None
        if outcome.retry_after_s is None:
            return backoff_s(job.attempts, policy)
        if outcome.retry_after_s > policy.max_retry_after_s:
            job.reason += f", Retry-After {outcome.retry_after_s:g} s is too long"
            return None
        return outcome.retry_after_s


class Notifier:
    """Signed webhooks and field speakers for alerts; `notify()` is sync and never blocks.

    >>> async with Notifier(config, data_dir, camera_names) as notifier:   # doctest: +SKIP
    ...     notifier.notify(alert)                 # from the detection loop
    ...     letters = await notifier.dead_letters()
    ...     await notifier.redrive([letters[0].id])

    `clock` (monotonic seconds) drives speaker cooldowns and deadlines; tests inject one.
    """

    def __init__(
        self,
        config: NotifyConfig,
        data_dir: Path,
        camera_names: Mapping[str, str] | None = None,
        *,
        redactor: Redactor | None = None,
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.monotonic,
        supervisor: Supervisor | None = None,
        share: ShareLinks | None = None,
        push: PushChannel | None = None,
    ) -> None:
        self.clock = clock
        self._supervisor = supervisor or Supervisor()
        self._redactor = redactor if redactor is not None else Redactor()
        for value in _secret_values(config):
            self._redactor.add(value)
        self._log_filter = RedactingFilter(self._redactor)
        self._store = DeadLetterStore(data_dir / DEAD_LETTER_FILE, config.dead_letter_max)
        self._client = client
        self._owns_client = client is None
        names = camera_names or {}
        self._targets: dict[str, _Target] = {}
        for hook in config.webhooks:
            self._targets[hook.name] = _Target(
                WebhookChannel(hook), hook.queue_size, hook.workers, self
            )
        for robot in config.robots:
            if share is None or config.public_url is None:
                raise NotifyError("chat robots need the public_url and the share key")
            channel = RobotChannel(robot, config.public_url, share, camera_names)
            self._targets[robot.name] = _Target(channel, robot.queue_size, 1, self)
        self._webhooks = list(self._targets.values())  # every target for any camera
        self._push = None if push is None else _Target(push, 1000, 2, self)
        if self._push is not None:
            self._targets["push"] = self._push
        # Speakers indexed by camera: a city has hundreds, an alert concerns one camera.
        self._speakers_at: dict[str, list[_Target]] = {}
        for spk in config.speakers:
            target = _Target(SpeakerChannel(spk, names), spk.queue_size, 1, self)
            self._targets[spk.name] = target
            for camera_id in spk.cameras:
                self._speakers_at.setdefault(camera_id, []).append(target)
        self._letters: asyncio.Queue[_Letter] = asyncio.Queue(maxsize=_WRITER_QUEUE)
        self._tasks: list[asyncio.Task[None]] = []
        self._writer: asyncio.Task[None] | None = None
        self._open = False

    async def __aenter__(self) -> Notifier:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def start(self) -> None:
        """Open the dead-letter store and start the workers; raises `DeadLetterStoreError`."""
        await self._store.open()
        # httpx logs every request's full URL (tokens, user info) at INFO: scrub at the source.
        for name in _HTTP_LOGGERS:
            logging.getLogger(name).addFilter(self._log_filter)
        if self._client is None:
            limits = httpx.Limits(max_connections=100, max_keepalive_connections=20)
            self._client = httpx.AsyncClient(limits=limits, follow_redirects=False)
        self._writer = self._supervisor.spawn("notify:dead", self._write_letters_forever)
        for name, target in self._targets.items():
            for i in range(target.workers):
                task = self._supervisor.spawn(f"notify:{name}:{i}", target.work_forever)
                self._tasks.append(task)
        self._open = True

    def notify(self, alert: Alert, event: str | None = None) -> None:
        """Queue the alert for every target that wants it; never blocks, never raises.

        In memory only (a crash loses what is queued): for notices that are not on the alert
        stream. `event` defaults to `alert.<phase>`; callers may pass others
        (`ticket.escalated`).
        """
        if not self._open:
            log.warning("notify: not running; %s for %s ignored", event, alert.alert_id)
            return
        self._offer(alert, event or event_for(alert), 0.0, None)

    def submit(self, alert: Alert, on_settled: Callable[[], None], age_s: float = 0.0) -> int:
        """Queue an alert read from the stream; returns how many jobs it made (0: none wanted).

        `on_settled` is called once per job, when it is delivered, dead-lettered or (speakers)
        given up on; a job still pending at `close()` is neither, and is left to the stream.
        `age_s` is how long ago the alert was observed. Never blocks; raises `NotifyError` when
        the notifier is not running (the caller must not acknowledge the entry).
        """
        if not self._open:
            raise NotifyError("the notifier is not running")
        return self._offer(alert, event_for(alert), age_s, on_settled)

    def _offer(
        self, alert: Alert, event: str, age_s: float, on_settled: Callable[[], None] | None
    ) -> int:
        now = self.clock()
        made = 0
        for target in self._webhooks + self._speakers_at.get(alert.camera_id, []):
            job = target.channel.job(alert, event, now, age_s)
            if job is not None:
                job.on_settled = on_settled
                target.offer(job)
                made += 1
        if self._push is not None and isinstance(self._push.channel, PushChannel):
            for job in self._push.channel.jobs(alert, event, now):
                job.on_settled = on_settled
                self._push.offer(job)
                made += 1
        return made

    def stats(self) -> dict[str, TargetStats]:
        """A copy of every target's counters, by target name."""
        out = {}
        for name, target in self._targets.items():
            snap = dataclasses.replace(target.stats, queued=target.queue.qsize())
            if isinstance(target.channel, SpeakerChannel):
                snap.cooldown_skipped = target.channel.cooldown_skipped
            out[name] = snap
        return out

    async def dead_letters(self, target: str | None = None, limit: int = 100) -> list[DeadLetter]:
        """Kept dead letters, oldest first (bodies hold alert fields, never secrets)."""
        return await self._store.entries(target, limit)

    async def redrive(self, ids: Sequence[int] | None = None, target: str | None = None) -> int:
        """Queue dead letters again (these ids, or a target's, or all); returns how many.

        Letters whose target is no longer configured, or that do not fit in its queue, stay.
        A re-driven delivery keeps its delivery id, so a receiver can drop a duplicate.
        """
        if not self._open:
            raise NotifyError("the notifier is not running")
        if target is not None and target not in self._targets:
            raise UnknownTarget(target)
        if ids is not None:
            letters = await self._store.get(ids)
        else:
            letters = await self._store.entries(target, limit=1_000_000)
        taken = [letter.id for letter in letters if self._requeue(letter)]
        await self._store.remove(taken)
        log.info("notify: re-drove %d dead letter(s)", len(taken))
        return len(taken)

    def _requeue(self, letter: DeadLetter) -> bool:
        target = self._targets.get(letter.target)
        if target is None or target.queue.full() or not isinstance(target.channel, WebhookChannel):
            return False
        target.queue.put_nowait(target.channel.job_from_dead_letter(letter, self.clock()))
        return True

    async def close(self, drain_budget_s: float = 5.0) -> None:
        """Stop intake, deliver what is queued within the budget, dead-letter the rest."""
        if not self._open:
            return
        self._open = False
        joins = [t.queue.join() for t in self._targets.values()]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*joins), drain_budget_s)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        pending = sum(self._abandon_pending(t) for t in self._targets.values())
        if pending:
            log.warning("notify: %d deliveries pending at shutdown kept as dead letters", pending)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._letters.join(), max(drain_budget_s, 5.0))
        if self._writer is not None:
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None
        for name in _HTTP_LOGGERS:
            logging.getLogger(name).removeFilter(self._log_filter)

    def _abandon_pending(self, target: _Target) -> int:
        pending = list(target.inflight)
        target.inflight.clear()
        while not target.queue.empty():
            pending.append(target.queue.get_nowait())
            target.queue.task_done()
        # A job read from the stream stays pending there: the next start delivers it again,
        # with the same delivery id, which beats a dead letter someone has to re-drive.
        left = [job for job in pending if job.on_settled is not None]
        if left:
            log.warning(
                "notify %s: %d deliveries left pending in the alert stream at shutdown",
                target.channel.name,
                len(left),
            )
        abandoned = [job for job in pending if job.on_settled is None]
        for job in abandoned:
            last = f" (last: {job.reason})" if job.reason else ""
            self.abandon(target, job, _SHUTDOWN + last)
        return len(abandoned) if target.channel.durable else 0

    # --- used by targets ----------------------------------------------------------------

    async def attempt(self, channel: Channel, job: Job, timeout_s: float) -> Outcome:
        """One HTTP call, bounded in total by `timeout_s`; never raises (but cancellation)."""
        assert self._client is not None
        policy = channel.policy
        try:
            call = channel.call(job)
            timeout = httpx.Timeout(timeout_s, connect=min(policy.connect_timeout_s, timeout_s))
            # asyncio.timeout bounds the whole call: httpx's timeouts are per read, and a
            # receiver trickling bytes could otherwise hold a worker indefinitely.
            async with asyncio.timeout(timeout_s):
                request = self._client.build_request(
                    call.method,
                    call.url,
                    headers=call.headers,
                    content=call.content,
                    timeout=timeout,
                )
                response = await self._client.send(
                    request, auth=call.auth, stream=True, follow_redirects=False
                )
                refused = await _refusal(channel, response)
                await response.aclose()  # at most the start of the answer is read
        except (TimeoutError, httpx.TimeoutException):
            return Outcome(Verdict.RETRY, None, f"timeout after {timeout_s:g} s")
        except httpx.TransportError as exc:
            return Outcome(Verdict.RETRY, None, self._describe(exc))
        except Exception as exc:  # a bad rendered request must not kill the worker
            return Outcome(Verdict.GIVE_UP, None, self._describe(exc))
        if refused is not None:
            return Outcome(Verdict.RETRY, response.status_code, refused)
        return _outcome_of(response)

    def abandon(self, target: _Target, job: Job, reason: str) -> None:
        """A job that will not be delivered: dead-lettered (webhooks) or counted (speakers)."""
        job.reason = self._redactor.scrub(reason)
        if isinstance(target.channel, PushChannel):
            target.channel.given_up(job)
        if not target.channel.durable:
            self._count_unplayed(target, job, reason)
            job.settle()
            return
        try:
            self._letters.put_nowait(_Letter(job, job.reason))
        except asyncio.QueueFull:
            target.stats.lost += 1
            log.error("notify %s: dead-letter queue full, %s lost", job.target, job.alert_id)
            job.settle()  # counted and logged; holding the entry would stall the stream

    def _count_unplayed(self, target: _Target, job: Job, reason: str) -> None:
        if reason == _QUEUE_FULL:
            return  # counted as `dropped` (and logged) by the queue itself
        if reason.startswith((_DEADLINE, _SHUTDOWN)):
            target.stats.expired += 1
        else:
            target.stats.failed += 1
        log.warning(
            "notify %s: warning for %s not played: %s", job.target, job.alert_id, job.reason
        )

    async def _write_letters_forever(self) -> None:
        while True:
            letter = await self._letters.get()
            try:
                await self._write_letter(letter)
            finally:
                self._letters.task_done()

    async def _write_letter(self, letter: _Letter) -> None:
        await self._store_letter(letter)
        letter.job.settle()  # written, or counted as lost: either way final

    async def _store_letter(self, letter: _Letter) -> None:
        job = letter.job
        target = self._targets[job.target]
        try:
            await self._store.add(
                job.target,
                job.delivery_id,
                job.event,
                job.body,
                letter.reason,
                job.attempts,
                job.last_status,
            )
        except DeadLetterStoreError as exc:
            target.stats.lost += 1
            log.error("notify %s: %s for %s lost: %s", job.target, job.event, job.alert_id, exc)
            return
        target.stats.dead_lettered += 1
        bulk = letter.reason.startswith((_QUEUE_FULL, _SHUTDOWN))  # summarised elsewhere
        log.log(
            logging.DEBUG if bulk else logging.WARNING,
            "notify %s: %s for %s dead-lettered after %d attempt(s): %s",
            job.target,
            job.event,
            job.alert_id,
            job.attempts,
            letter.reason,
        )

    def _describe(self, exc: BaseException) -> str:
        text = str(exc)
        detail = f": {text}" if text else ""
        return self._redactor.scrub(f"{type(exc).__name__}{detail}")[:300]


async def _refusal(channel: Channel, response: httpx.Response) -> str | None:
    """A chat robot's refusal inside a 2xx answer (read up to `ANSWER_MAX` bytes); else None."""
    if not isinstance(channel, RobotChannel) or not response.is_success:
        return None
    answer = b""
    async for chunk in response.aiter_bytes():
        answer += chunk
        if len(answer) >= ANSWER_MAX:
            break
    return channel.refusal(answer[:ANSWER_MAX])


def _outcome_of(response: httpx.Response) -> Outcome:
    status = response.status_code
    retry_after = None
    if status in (429, 503):
        retry_after = parse_retry_after(response.headers.get("retry-after"), time.time())
    return Outcome(classify_status(status), status, f"http {status}", retry_after)


def _secret_values(config: NotifyConfig) -> list[str]:
    """Every secret in the config, so nothing the notifier logs can carry one.

    URLs are added whole and in parts (the password of the user info, query values), since a
    rendered speaker URL differs from its template and a token may show up on its own.
    """
    urls = [h.url.get_secret_value() for h in config.webhooks]
    urls += [s.url.get_secret_value() for s in config.speakers]
    urls += [r.url.get_secret_value() for r in config.robots]
    values = [h.secret.get_secret_value() for h in config.webhooks]
    values += [r.secret.get_secret_value() for r in config.robots if r.secret is not None]
    for spk in config.speakers:
        values += [v.get_secret_value() for v in spk.headers.values()]
        if spk.password is not None:
            values.append(spk.password.get_secret_value())
    for url in urls:
        parts = urlsplit(url)
        values += [url, parts.password or ""]
        values += [v for _, v in parse_qsl(parts.query) if not _FIELD.fullmatch(v)]
    return [v for v in values if v]
