"""Evidence and field photos on their way to the shared bucket, and back to any hub serving them.

Each hub writes its evidence to its own disk first (`EvidenceStore`: atomic, checksummed, never
waiting on the network), and notes every file in an **outbox**: one small JSON file per
evidence file under `<files_root>/evidence-outbox/`, written and fsynced in the same worker
thread, before the alert that names the file is published. The uploader (a supervised task)
sends what the outbox holds, checks that the bucket has it with the same checksum, and only then
removes the note. A hub killed with files unsent leaves its notes; the next start sends them,
and on a files root the hubs share, any hub does (the outbox is looked at every `_IDLE_S` when
idle; sending the same file twice is harmless: the object is checked first).
While the store is unreachable the notes wait, the failures are counted, and `/readyz` says so
once they have waited `stuck_after_s`; retention never removes a file that is still to be sent.

Another hub asked for a ticket's evidence it does not hold fetches it from the bucket into the
same place under its own files root; from then on it is that hub's copy, under its retention.

>>> uploads = EvidenceUploads(objects, settings.files_root)     # doctest: +SKIP
>>> store = EvidenceStore(root, max_age, max_bytes, on_stored=uploads.note, pending=uploads.pending)
>>> supervisor.spawn("evidence:uploads", uploads.run)            # doctest: +SKIP
>>> path = await uploads.local_or_fetched("evidence/2026-12-06/ab12cd34.jpg")  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from alerts.evidence.objects import ObjectStore, ObjectStoreError

log = logging.getLogger(__name__)

OUTBOX = "evidence-outbox"
_RETRY_MAX_S = 60.0
_IDLE_S = 30.0


class FileFacts(Protocol):
    """A file written under the files root: evidence, or a field photo."""

    @property
    def path(self) -> str: ...  # relative to the files root
    @property
    def sha256(self) -> str: ...
    @property
    def size(self) -> int: ...


@dataclass(frozen=True, slots=True)
class UploadStats:
    """Counters since start, and the outbox now."""

    pending: int  # files noted and not yet in the bucket
    uploaded: int
    failures: int  # attempts the store refused or did not answer
    fetched: int  # files fetched for tickets another hub recorded
    missing: int  # noted files gone from disk before they were sent (counted, note dropped)


class EvidenceUploads:
    """The outbox of one hub's files root, its uploader, and fetching from the bucket."""

    def __init__(
        self,
        objects: ObjectStore,
        files_root: Path,
        poll_s: float = 2.0,
        stuck_after_s: float = 300.0,
    ) -> None:
        self._objects = objects
        self._root = files_root
        self._outbox = files_root / OUTBOX
        self._poll_s = poll_s
        self._stuck_after_s = stuck_after_s
        self._lock = threading.Lock()  # the pending set: noted from worker threads
        self._pending: set[str] = set()
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._failing_since: float | None = None
        self._last_error = ""
        self._counts = {"uploaded": 0, "failures": 0, "fetched": 0, "missing": 0}

    # --- noting (worker threads) ---------------------------------------------------------

    def note(self, stored: FileFacts) -> None:
        """Put `stored` in the outbox, durably (blocks: called in the store's worker thread)."""
        self._outbox.mkdir(parents=True, exist_ok=True)
        entry = self._outbox / _entry_name(stored.path)
        tmp = entry.with_suffix(".part")
        body = json.dumps({"path": stored.path, "sha256": stored.sha256, "size": stored.size})
        with tmp.open("w", encoding="utf-8") as handle:
            handle.write(body)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, entry)
        with self._lock:
            self._pending.add(stored.path)
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    def pending(self) -> frozenset[str]:
        """Paths (relative to the files root) still to be sent: retention keeps them. The
        notes on disk count too: on a files root the hubs share, another hub's (blocks)."""
        on_disk = {entry["path"] for entry in self._read_outbox()}
        with self._lock:
            return frozenset(self._pending | on_disk)

    # --- sending (the supervised task) -----------------------------------------------------

    async def run(self) -> None:
        """Send the outbox, then whatever is noted, for ever; the store's refusals are counted
        and retried with a growing pause, never raised."""
        self._loop = asyncio.get_running_loop()
        pause = self._poll_s
        while not await asyncio.to_thread(self._bucket_ready):
            await asyncio.sleep(pause)
            pause = min(_RETRY_MAX_S, pause * 2)
        entries = await asyncio.to_thread(self._read_outbox)
        with self._lock:
            self._pending |= {e["path"] for e in entries}
        pause = self._poll_s
        while True:
            sent_all = await asyncio.to_thread(self._send_outbox)
            pause = self._poll_s if sent_all else min(_RETRY_MAX_S, pause * 2)
            self._wake.clear()
            try:  # idle, it still looks now and then: notes a hub that died left behind
                await asyncio.wait_for(self._wake.wait(), pause if not sent_all else _IDLE_S)
            except TimeoutError:
                pass

    def _bucket_ready(self) -> bool:
        try:
            self._objects.ensure_bucket()
        except ObjectStoreError as exc:
            self._failed(exc)
            return False
        return True

    def _send_outbox(self) -> bool:
        """Send every noted file; True when the outbox is empty afterwards."""
        for entry in self._read_outbox():
            try:
                self._send(entry)
            except ObjectStoreError as exc:
                self._failed(exc)
                return False
        self._failing_since = None
        return True

    def _send(self, entry: dict[str, str]) -> None:
        path, sha = entry["path"], entry["sha256"]
        local = self._root / path
        if not local.is_file():  # retention cannot take it; a photo whose move failed can
            log.warning("evidence upload: %s is gone from disk before it was sent", path)
            self._counts["missing"] += 1
        elif not self._objects.holds(path, sha):
            self._objects.put(path, local, sha)
            if not self._objects.holds(path, sha):
                raise ObjectStoreError(f"object store: {path} reads back with another checksum")
            self._counts["uploaded"] += 1
        (self._outbox / _entry_name(path)).unlink(missing_ok=True)
        with self._lock:
            self._pending.discard(path)

    def _failed(self, exc: ObjectStoreError) -> None:
        self._counts["failures"] += 1
        self._last_error = str(exc)
        if self._failing_since is None:
            self._failing_since = time.monotonic()
            log.warning("evidence upload failing (will retry): %s", exc)

    def _read_outbox(self) -> list[dict[str, str]]:
        try:
            names = sorted(p for p in self._outbox.iterdir() if p.suffix == ".json")
        except FileNotFoundError:
            return []
        entries = []
        for name in names:
            try:
                raw = json.loads(name.read_text(encoding="utf-8"))
                entries.append({"path": str(raw["path"]), "sha256": str(raw["sha256"])})
            except (OSError, ValueError, KeyError, TypeError) as exc:
                log.error("evidence upload: unreadable outbox note %s (%s): left", name, exc)
        return entries

    # --- serving -----------------------------------------------------------------------------

    async def local_or_fetched(self, relative: str) -> Path | None:
        """The file `relative` names under this hub's files root, fetched from the bucket
        first when this hub does not hold it; None when neither has it. `ObjectStoreError`
        when the store cannot answer."""
        local = self._root / relative
        if local.is_file():
            return local
        if not await asyncio.to_thread(self._objects.fetch, relative, local):
            return None
        self._counts["fetched"] += 1
        return local

    # --- figures -----------------------------------------------------------------------------

    def stats(self) -> UploadStats:
        """A copy of the counters (pending: this hub's own notes)."""
        with self._lock:
            pending = len(self._pending)
        return UploadStats(pending=pending, **self._counts)

    def problem(self) -> str | None:
        """Why `/readyz` should say no: uploads failing for longer than `stuck_after_s`."""
        since = self._failing_since
        if since is None or time.monotonic() - since < self._stuck_after_s:
            return None
        return (
            f"evidence uploads: {self.stats().pending} files waiting, failing for "
            f"{time.monotonic() - since:.0f} s ({self._last_error})"
        )


def _entry_name(relative: str) -> str:
    return hashlib.sha256(relative.encode()).hexdigest()[:32] + ".json"
