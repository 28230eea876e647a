"""Suppression windows are written (and fsynced) in a worker thread by the API; the event loop
keeps reading them meanwhile and always sees one whole set, and a failed write changes nothing."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from alerts import SuppressionError, Suppressions


async def test_writes_in_a_worker_while_the_loop_reads(tmp_path: Path) -> None:
    windows = Suppressions(tmp_path)
    reads = 0

    async def read_meanwhile(done: asyncio.Event) -> None:
        nonlocal reads
        while not done.is_set():
            windows.covers("cam", "z", "r", 5.0)  # raises if the set changed under it
            reads += 1
            await asyncio.sleep(0)

    done = asyncio.Event()
    reader = asyncio.create_task(read_meanwhile(done))
    added = [
        await asyncio.to_thread(windows.add, "cam", 0.0, 10.0 + i, "works", "op", zone_id=f"z{i}")
        for i in range(50)
    ]
    removed = [await asyncio.to_thread(windows.remove, w.window_id) for w in added[:25]]
    done.set()
    await reader
    assert reads > 0 and all(removed)
    assert len(Suppressions(tmp_path).active(0.0)) == 25  # what is on disk


def test_a_failed_write_leaves_the_windows_as_they_were(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the data dir should be")
    windows = Suppressions(blocker)
    with pytest.raises(SuppressionError, match="cannot store"):
        windows.add("cam", 0.0, 10.0, "works", "op")
    assert windows.active(0.0) == [] and not windows.covers("cam", "z", "r", 5.0)
