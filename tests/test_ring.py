"""The packet ring's kernel rules: stream generations and the one keyframe rule."""

from __future__ import annotations

from fractions import Fraction

import pytest

from riverwatch.ring import PacketRing, RingPacket, StreamInfo, keyframe_run, pictures_of

TB = Fraction(1, 90_000)
HD = StreamInfo("h264", 1920, 1080, TB, b"")
SD = StreamInfo("h264", 640, 360, TB, b"")

# Annex B packets: a picture's first slice has first_mb_in_slice = 0 (top bit of the byte
# after the NAL header set); a later slice of the same picture has it clear.
IDR = b"\x00\x00\x00\x01\x65\x88"
IDR_MORE = b"\x00\x00\x00\x01\x65\x40"
P = b"\x00\x00\x00\x01\x41\x9a"


def test_ring_generations_across_stream_changes() -> None:
    ring = PacketRing(max_seconds=60, max_bytes=10**6)
    steps: list[StreamInfo | float] = [0.0, HD, 1.0, HD, 2.0, SD, 3.0]
    seen = []
    for step in steps:
        if isinstance(step, StreamInfo):
            ring.open_stream(step)
        else:
            ring.append(RingPacket(P, 0, 0, TB, False, step))
        stream = ring.stream
        held = [(p.received_at, p.generation) for p in ring.snapshot()]
        seen.append((ring.generation, None if stream is None else stream.generation, held))
    assert seen == [
        (0, None, [(0.0, 0)]),  # before any stream
        (1, 1, [(0.0, 0)]),  # first stream: nothing to drop
        (1, 1, [(0.0, 0), (1.0, 1)]),
        (2, 2, [(0.0, 0), (1.0, 1)]),  # reconnect, same size: pre-roll stays, told apart
        (2, 2, [(0.0, 0), (1.0, 1), (2.0, 2)]),
        (3, 3, []),  # new resolution: old packets cannot share a clip
        (3, 3, [(3.0, 3)]),
    ]
    assert ring.newest_seq == 3  # sequence numbers go on across streams


def test_ring_stream_is_read_only() -> None:
    ring = PacketRing(max_seconds=60, max_bytes=10**6)
    with pytest.raises(AttributeError):
        ring.stream = HD  # type: ignore[misc]


Spec = tuple[int | None, bool, bytes]  # pts, is_keyframe, data; received_at is the index


@pytest.mark.parametrize(
    ("specs", "at", "expected"),
    [
        ([(0, False, P)], None, (-1, [])),
        ([(0, True, IDR), (1, False, P), (2, True, IDR), (3, False, P)], None, (2, [2])),
        ([(0, True, IDR), (0, True, IDR_MORE), (1, False, P)], None, (0, [0, 1])),
        ([(0, True, IDR), (0, False, P)], None, (0, [0, 1])),  # same pts: same picture
        ([(None, True, IDR), (None, True, IDR_MORE), (1, False, P)], None, (0, [0, 1])),
        ([(None, True, IDR), (None, False, P)], None, (0, [0])),  # untimed new picture
        ([(0, True, IDR), (1, False, P), (2, True, IDR)], 1.5, (0, [0])),
        ([(0, False, P), (1, True, IDR), (2, False, P), (3, True, IDR)], 0.5, (1, [1])),
        ([(0, True, IDR), (1, True, IDR)], 1.0, (1, [1])),  # at is inclusive
        # every slice of a keyframe is flagged key: the keyframe starts at its first slice
        ([(0, True, IDR), (0, True, IDR_MORE), (0, True, IDR_MORE)], 2.0, (0, [0, 1, 2])),
        ([(None, True, IDR), (None, True, IDR_MORE), (1, False, P)], 1.0, (0, [0, 1])),
    ],
)
def test_keyframe_run(specs: list[Spec], at: float | None, expected: tuple[int, list[int]]) -> None:
    packets = [RingPacket(d, pts, pts, TB, key, float(i)) for i, (pts, key, d) in enumerate(specs)]
    index, run = keyframe_run(packets, at)
    assert (index, [int(p.received_at) for p in run]) == expected


def test_newest_keyframe_numbers_it_in_the_ring() -> None:
    ring = PacketRing(max_seconds=60, max_bytes=4 * len(P))  # holds four packets
    specs = [(0, True, IDR), (1, False, P), (2, True, IDR), (2, True, IDR_MORE), (3, False, P)]
    for i, (pts, key, data) in enumerate(specs):  # the fifth evicts the first
        ring.append(RingPacket(data, pts, pts, TB, key, float(i)))
    seq, run = ring.newest_keyframe()
    assert seq == 2 and [p.received_at for p in run] == [2.0, 3.0]


@pytest.mark.parametrize(
    ("numbered", "groups"),
    [
        # (picture, generation, pts): the writer's numbers decide, whatever the pts say
        ([(0, 1, 5), (1, 1, 5), (2, 1, 5)], [[0], [1], [2]]),  # constant pts
        ([(0, 1, 9), (1, 1, 8), (1, 1, 7)], [[0], [1, 2]]),  # backwards, one in two slices
        ([(0, 1, None), (0, 1, None), (1, 1, None)], [[0, 1], [2]]),  # missing
        ([(3, 1, 0), (3, 2, 0)], [[0], [1]]),  # one number, another stream
        # not numbered (another writer): a shared pts joins, as before
        ([(None, 1, 0), (None, 1, 0), (None, 1, 1)], [[0, 1], [2]]),
    ],
)
def test_pictures_follow_the_writers_numbers(
    numbered: list[tuple[int | None, int, int | None]], groups: list[list[int]]
) -> None:
    packets = [
        RingPacket(P, pts, pts, TB, False, float(i), generation, picture)
        for i, (picture, generation, pts) in enumerate(numbered)
    ]
    assert [[int(p.received_at) for p in g] for g in pictures_of(packets)] == groups
