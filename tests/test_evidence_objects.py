"""Evidence in a shared S3 bucket (`alerts/evidence/objects.py`, `uploads.py`), against a real
S3 server over HTTP (tests/s3_fixtures.py): files are noted durably, uploaded and checked, kept
from retention until then, sent after a restart, held while the store is down and sent when it
is back, and fetched by a hub that never had them."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from alerts.evidence import EvidenceStore, EvidenceUploads, ObjectStore, ObjectStoreError
from alerts.evidence.uploads import OUTBOX
from tests.conftest import eventually
from tests.s3_fixtures import ACCESS_KEY, SECRET_KEY, S3Server

JPEG = b"\xff\xd8" + bytes(range(256)) * 40 + b"\xff\xd9"
ALERT = "9f3a0c1d2e4b5a67"


def bucket(endpoint: str, name: str = "evidence-test") -> ObjectStore:
    return ObjectStore(endpoint, name, ACCESS_KEY, SECRET_KEY, timeout_s=3.0)


def store(root: Path, uploads: EvidenceUploads | None, max_bytes: int = 10**9) -> EvidenceStore:
    return EvidenceStore(
        root,
        30 * 86400,
        max_bytes,
        on_stored=uploads.note if uploads is not None else None,
        pending=uploads.pending if uploads is not None else None,
    )


@contextlib.asynccontextmanager
async def running(uploads: EvidenceUploads) -> AsyncIterator[EvidenceUploads]:
    task = asyncio.create_task(uploads.run())
    try:
        yield uploads
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def test_the_bucket_round_trip_checks_the_checksum(s3: S3Server, tmp_path: Path) -> None:
    objects = bucket(s3.endpoint)
    objects.ensure_bucket()
    objects.ensure_bucket()  # a second hub starting: no error
    path = tmp_path / "a.jpg"
    path.write_bytes(JPEG)
    sha = hashlib.sha256(JPEG).hexdigest()
    assert not objects.holds("evidence/2026-12-06/a.jpg", sha)
    objects.put("evidence/2026-12-06/a.jpg", path, sha)
    assert objects.holds("evidence/2026-12-06/a.jpg", sha)
    assert not objects.holds("evidence/2026-12-06/a.jpg", "0" * 64)  # another file's checksum
    assert objects.fetch("evidence/2026-12-06/a.jpg", tmp_path / "back" / "a.jpg")
    assert (tmp_path / "back" / "a.jpg").read_bytes() == JPEG
    assert not objects.fetch("evidence/2026-12-06/none.jpg", tmp_path / "none.jpg")
    assert not (tmp_path / "none.jpg").exists()


def test_an_unreachable_store_is_a_clear_error(tmp_path: Path) -> None:
    objects = bucket(S3Server().endpoint)  # nothing listens there
    with pytest.raises(ObjectStoreError, match="cannot reach the bucket"):
        objects.ensure_bucket()
    with pytest.raises(ValueError, match="want http"):
        ObjectStore("minio:9000", "b", "k", "s")


async def test_evidence_is_noted_uploaded_and_fetched_by_a_hub_without_it(
    s3: S3Server, tmp_path: Path
) -> None:
    here, there = tmp_path / "hub-a", tmp_path / "hub-b"
    uploads = EvidenceUploads(bucket(s3.endpoint), here, poll_s=0.05)
    stored = await asyncio.to_thread(store(here, uploads).save_snapshot, ALERT, time.time(), JPEG)
    notes = list((here / OUTBOX).glob("*.json"))
    assert len(notes) == 1 and json.loads(notes[0].read_text())["sha256"] == stored.sha256
    assert uploads.pending() == {stored.path}
    async with running(uploads):
        await eventually(lambda: uploads.stats().pending == 0, what="the upload")
    assert uploads.stats().uploaded == 1 and not list((here / OUTBOX).glob("*.json"))
    other = EvidenceUploads(bucket(s3.endpoint), there)
    fetched = await other.local_or_fetched(stored.path)
    assert fetched == there / stored.path and fetched.read_bytes() == JPEG
    assert other.stats().fetched == 1
    assert await other.local_or_fetched(stored.path) == fetched  # now its own copy
    assert other.stats().fetched == 1
    assert await other.local_or_fetched("evidence/2026-12-06/0000000000000000.jpg") is None


async def test_a_restarted_hub_sends_what_the_last_one_left(s3: S3Server, tmp_path: Path) -> None:
    first = EvidenceUploads(bucket(s3.endpoint), tmp_path)
    stored = await asyncio.to_thread(store(tmp_path, first).save_snapshot, ALERT, time.time(), JPEG)
    # The hub dies before its uploader ran; the next one finds the note on disk.
    second = EvidenceUploads(bucket(s3.endpoint), tmp_path, poll_s=0.05)
    async with running(second):
        await eventually(lambda: second.stats().uploaded == 1, what="the left-over upload")
    assert bucket(s3.endpoint).holds(stored.path, stored.sha256)
    assert second.pending() == frozenset()


async def test_files_wait_while_the_store_is_down_and_go_when_it_is_back(tmp_path: Path) -> None:
    server = S3Server()  # its port, nothing on it yet
    uploads = EvidenceUploads(bucket(server.endpoint), tmp_path, poll_s=0.05, stuck_after_s=0.0)
    evidence = store(tmp_path, uploads, max_bytes=10)  # retention would take everything
    stored = await asyncio.to_thread(evidence.save_snapshot, ALERT, time.time(), JPEG)
    async with running(uploads):
        await eventually(lambda: uploads.stats().failures >= 2, what="failed attempts")
        problem = uploads.problem()
        assert problem is not None and "1 files waiting" in problem
        swept = await asyncio.to_thread(evidence.sweep)
        assert swept.removed_files == 0 and (tmp_path / stored.path).is_file()  # the only copy
        await asyncio.to_thread(server.start)
        try:
            await eventually(lambda: uploads.stats().pending == 0, timeout_s=90, what="upload")
            assert uploads.problem() is None
            assert bucket(server.endpoint).holds(stored.path, stored.sha256)
        finally:
            await asyncio.to_thread(server.stop)
    swept = await asyncio.to_thread(evidence.sweep)
    assert swept.removed_files == 1  # sent: now retention may take it
