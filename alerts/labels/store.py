"""The site's labelled boxes: what reviewers said is a boat, or not, on the hub's own pictures.

On disk, under `<data_dir>/labels/` (the store's `root`):

    images/<alert_id>.jpg   the evidence snapshot, copied once (evidence is swept after its
                            retention; labels are kept), at the camera's full resolution
    samples.jsonl           one JSON object per line, appended, each line fsynced

A line is either a sample

    {"op": "add", "id": "9f2c...", "camera_id": "calm", "image": "images/3f9c0a.jpg",
     "image_wh": [1920, 1080], "box_xyxy": [120, 340, 410, 520], "label": "boat",
     "source": "verdict", "ticket_id": 42, "alert_id": "3f9c0a...", "user": "zhao.min",
     "ts": 1764030000.0}

or the removal of one: `{"op": "remove", "id": "9f2c...", "user": "zhao.min", "ts": ...}`.

- `image` is relative to `root`; `box_xyxy` is in that image's pixels, x0 < x1 <= width,
  y0 < y1 <= height (exclusive ends, as numpy slices: the crop is `img[y0:y1, x0:x1]`).
- `label` is `boat` or `not_boat`; `source` is `verdict` (an incident's box, labelled by the
  reviewer's verdict: confirmed makes it `boat`, a false alarm `not_boat`) or `page` (marked
  or drawn on the `/label` page).
- A later verdict on an incident removes its earlier `verdict` samples (remove lines) and adds
  the new ones, in one append.
- A last line cut short by a crash is ignored; unknown keys are ignored.

The trainer reads it with `read_samples(root)`: the samples that stand, oldest first.

    >>> store = SampleStore(data_dir / "labels")  # doctest: +SKIP
    >>> image = await store.adopt_image(data_dir / ticket.snapshot, ticket.alert_id)
    >>> await store.add(Draft(ticket.camera_id, image, (10, 20, 90, 60), Label.BOAT,
    ...                       Source.PAGE, "zhao.min", ticket.id, ticket.alert_id))
"""

from __future__ import annotations

import asyncio
import enum
import json
import logging
import os
import re
import secrets
import shutil
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from alerts.labels.errors import BadSample, SampleNotFound
from alerts.labels.jpeg import jpeg_size
from riverwatch.files import fsync_path

log = logging.getLogger(__name__)

SAMPLES_FILE = "samples.jsonl"
IMAGES_DIR = "images"
Box = tuple[int, int, int, int]
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


class Label(enum.StrEnum):
    """What the box holds."""

    BOAT = "boat"
    NOT_BOAT = "not_boat"


class Source(enum.StrEnum):
    """Where the label came from."""

    VERDICT = "verdict"
    PAGE = "page"


@dataclass(frozen=True, slots=True)
class Image:
    """A labelled picture in the store: its path relative to the root, and its size."""

    path: str
    wh: tuple[int, int]


@dataclass(frozen=True, slots=True)
class Draft:
    """A sample to add: everything but the id and time the store gives it."""

    camera_id: str
    image: Image
    box_xyxy: Box
    label: Label
    source: Source
    user: str
    ticket_id: int | None = None
    alert_id: str = ""

    def __post_init__(self) -> None:
        check_box(self.box_xyxy, self.image.wh)


@dataclass(frozen=True, slots=True)
class Sample:
    """One labelled box on one image (see the module docstring for the fields)."""

    id: str
    camera_id: str
    image: str
    image_wh: tuple[int, int]
    box_xyxy: Box
    label: Label
    source: Source
    ticket_id: int | None
    alert_id: str
    user: str
    ts: float

    def to_json(self) -> dict[str, Any]:
        """The sample as its `add` line holds it."""
        return {"op": "add", **asdict(self)}


@dataclass(frozen=True, slots=True)
class Counts:
    """How many samples stand, by label, by source, and by both."""

    total: int
    by_label: dict[str, int]
    by_source: dict[str, int]
    by_label_source: dict[str, dict[str, int]]


def check_box(box: Sequence[int], wh: tuple[int, int]) -> None:
    """Raise `BadSample` unless `box` is a non-empty (x0, y0, x1, y1) inside a `wh` image."""
    if len(box) != 4:
        raise BadSample(f"a box is [x0, y0, x1, y1], got {len(box)} numbers")
    x0, y0, x1, y1 = box
    width, height = wh
    if not (x0 < x1 and y0 < y1):
        raise BadSample(f"the box {list(box)} is empty: it needs x0 < x1 and y0 < y1")
    if x0 < 0 or y0 < 0 or x1 > width or y1 > height:
        raise BadSample(f"the box {list(box)} is not inside the {width}x{height} image")


def read_samples(root: Path) -> list[Sample]:
    """The samples that stand in the store at `root`, oldest first (blocking)."""
    return list(_fold(root / SAMPLES_FILE).values())


class SampleStore:
    """The label store: add, remove and read labelled boxes; each change is one fsynced
    append made in a worker thread, so the event loop never waits on the disk."""

    def __init__(self, root: Path, clock: Callable[[], float] = time.time) -> None:
        self._root = root
        self._clock = clock
        self._samples: dict[str, Sample] | None = None
        self._lock = asyncio.Lock()

    @property
    def root(self) -> Path:
        """The store's directory."""
        return self._root

    async def adopt_image(self, snapshot: Path, name: str) -> Image:
        """Copy an evidence snapshot into the store once (as `images/<name>.jpg`) and read
        its size; raises `BadSample` if it is missing or not a JPEG."""
        if not _SAFE_NAME.fullmatch(name):
            raise BadSample(f"bad image name {name!r}")
        return await asyncio.to_thread(self._adopt, snapshot, f"{IMAGES_DIR}/{name}.jpg")

    async def image(self, path: str) -> Image:
        """An image already in the store, with its size (`BadSample` if it is not there)."""
        return Image(path, await asyncio.to_thread(jpeg_size, self._inside(path)))

    async def add(self, draft: Draft) -> Sample:
        """Store one sample; its new id and time."""
        return (await self.replace(lambda _: False, [draft]))[0]

    async def replace(
        self, drop: Callable[[Sample], bool], drafts: Sequence[Draft], user: str = ""
    ) -> list[Sample]:
        """Remove every sample `drop` picks and add `drafts`, in one durable append (so a
        later verdict replaces an earlier one's samples even when two race); the new samples."""
        async with self._lock:
            samples = await self._loaded()
            now = self._clock()
            removed = [i for i, sample in samples.items() if drop(sample)]
            added = [_sample(d, now) for d in drafts]
            lines = [{"op": "remove", "id": i, "user": user, "ts": now} for i in removed]
            lines += [s.to_json() for s in added]
            if lines:
                await asyncio.to_thread(self._append, lines)
            for i in removed:
                del samples[i]
            samples.update((s.id, s) for s in added)
            return added

    async def remove(self, sample_id: str, user: str) -> Sample:
        """Remove one sample (`SampleNotFound` if none has this id); the sample removed."""
        async with self._lock:
            samples = await self._loaded()
            if sample_id not in samples:
                raise SampleNotFound(f"no label {sample_id}")
            line = {"op": "remove", "id": sample_id, "user": user, "ts": self._clock()}
            await asyncio.to_thread(self._append, [line])
            return samples.pop(sample_id)

    async def get(self, sample_id: str) -> Sample:
        """One sample (`SampleNotFound` if none has this id)."""
        samples = await self._read()
        if sample_id not in samples:
            raise SampleNotFound(f"no label {sample_id}")
        return samples[sample_id]

    async def for_image(self, image: str) -> list[Sample]:
        """The samples on one image, oldest first."""
        return [s for s in (await self._read()).values() if s.image == image]

    async def for_ticket(self, ticket_id: int) -> list[Sample]:
        """The samples of one incident, oldest first."""
        return [s for s in (await self._read()).values() if s.ticket_id == ticket_id]

    async def all(self) -> list[Sample]:
        """Every sample that stands, oldest first."""
        return list((await self._read()).values())

    async def counts(self) -> Counts:
        """How many samples stand, by label and by source."""
        samples = list((await self._read()).values())
        both: dict[str, dict[str, int]] = {label: {} for label in Label}
        for (label, source), n in sorted(Counter((s.label, s.source) for s in samples).items()):
            both[label][source] = n
        return Counts(
            total=len(samples),
            by_label={label: sum(both[label].values()) for label in Label},
            by_source={src: sum(1 for s in samples if s.source is src) for src in Source},
            by_label_source=both,
        )

    async def _read(self) -> dict[str, Sample]:
        async with self._lock:
            return await self._loaded()

    async def _loaded(self) -> dict[str, Sample]:
        # Called with the lock held: one load, and no append racing it.
        if self._samples is None:
            self._samples = await asyncio.to_thread(_fold, self._root / SAMPLES_FILE)
        return self._samples

    def _append(self, lines: list[dict[str, Any]]) -> None:
        self._root.mkdir(parents=True, exist_ok=True)
        text = "".join(json.dumps(line, separators=(",", ":")) + "\n" for line in lines)
        path = self._root / SAMPLES_FILE
        created = not path.exists()
        if not created and _torn(path):
            text = "\n" + text  # end the torn line so this append stays readable
        with path.open("a", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        if created:
            fsync_path(self._root)

    def _adopt(self, snapshot: Path, relative: str) -> Image:
        target = self._root / relative
        if not target.is_file():
            wh = jpeg_size(snapshot)  # refuse a non-JPEG before copying it
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_suffix(".part")
            shutil.copyfile(snapshot, partial)
            with partial.open("rb") as f:
                os.fsync(f.fileno())
            partial.replace(target)
            fsync_path(target.parent)
            return Image(relative, wh)
        return Image(relative, jpeg_size(target))

    def _inside(self, relative: str) -> Path:
        base = self._root.resolve()
        path = (base / relative).resolve()
        if not path.is_relative_to(base):
            raise BadSample(f"the image {relative!r} is not in the label store")
        return path


def _sample(draft: Draft, now: float) -> Sample:
    return Sample(
        id=secrets.token_hex(8),
        camera_id=draft.camera_id,
        image=draft.image.path,
        image_wh=draft.image.wh,
        box_xyxy=tuple(int(v) for v in draft.box_xyxy),  # type: ignore[arg-type]
        label=Label(draft.label),
        source=Source(draft.source),
        ticket_id=draft.ticket_id,
        alert_id=draft.alert_id,
        user=draft.user,
        ts=now,
    )


def _fold(path: Path) -> dict[str, Sample]:
    """Replay the lines: adds in order, removes drop them; a torn last line is skipped."""
    samples: dict[str, Sample] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return samples
    for number, line in enumerate(text.splitlines(), 1):
        try:
            record = json.loads(line)
            if record["op"] == "remove":
                samples.pop(record["id"], None)
            elif record["op"] == "add":
                samples[record["id"]] = _parse(record)
        except (ValueError, KeyError, TypeError):
            log.warning("labels: skipping unreadable line %d of %s", number, path)
    return samples


def _parse(record: dict[str, Any]) -> Sample:
    x0, y0, x1, y1 = (int(v) for v in record["box_xyxy"])
    width, height = (int(v) for v in record["image_wh"])
    ticket = record.get("ticket_id")
    return Sample(
        id=str(record["id"]),
        camera_id=str(record["camera_id"]),
        image=str(record["image"]),
        image_wh=(width, height),
        box_xyxy=(x0, y0, x1, y1),
        label=Label(record["label"]),
        source=Source(record["source"]),
        ticket_id=None if ticket is None else int(ticket),
        alert_id=str(record.get("alert_id", "")),
        user=str(record.get("user", "")),
        ts=float(record["ts"]),
    )


def _torn(path: Path) -> bool:
    """Whether the file's last line lacks its newline (a crash cut the write short)."""
    with path.open("rb") as f:
        if f.seek(0, os.SEEK_END) == 0:
            return False
        f.seek(-1, os.SEEK_END)
        return f.read(1) != b"\n"
