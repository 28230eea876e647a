"""Who should own each camera: rendezvous (highest-random-weight) hashing, capped by capacity.

Every hub computes the same answer from the same view of the live hubs, with no coordinator:
each camera ranks every hub by a hash of (camera, hub) and goes to the best-ranked hub that
still has room. When a hub joins, it takes only the cameras that now rank it first (about
1 / n of them); when one leaves, only its cameras move, each to its next-ranked hub. Capacity
only bends this when a hub is full: cameras are placed in a fixed order (by id), so the
answer stays deterministic.

>>> owners = assign(["cam-1", "cam-2"], {"hub-a": None, "hub-b": None})
>>> sorted(owners) == ["cam-1", "cam-2"] and set(owners.values()) <= {"hub-a", "hub-b"}
True
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping


def weight(camera_id: str, hub_id: str) -> int:
    """The (camera, hub) pair's rank: a stable 64-bit hash, the same on every machine."""
    digest = hashlib.blake2b(f"{camera_id}\0{hub_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def ranking(camera_id: str, hubs: Iterable[str]) -> list[str]:
    """The hubs, best first for this camera."""
    return sorted(hubs, key=lambda hub: (-weight(camera_id, hub), hub))


def assign(cameras: Iterable[str], capacity: Mapping[str, int | None]) -> dict[str, str]:
    """Each camera's owner among the live hubs (`capacity`: hub id -> most cameras it takes,
    None for no cap). Cameras that no hub has room for are left out."""
    room = dict(capacity)
    owners: dict[str, str] = {}
    for camera in sorted(cameras):
        for hub in ranking(camera, room):
            left = room[hub]
            if left is None or left > 0:
                owners[camera] = hub
                room[hub] = None if left is None else left - 1
                break
    return owners
