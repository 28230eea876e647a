"""What a new configuration version changes on a running hub, camera by camera.

| change                                              | what happens                     |
|-----------------------------------------------------|----------------------------------|
| URL, sub-stream, main ring, decode mode or rate     | that camera's sessions restart   |
| zones, tripwires, masks, analysis settings          | its core slot, at the next tick  |
| a new camera                                        | a spare row: ingest and core     |
| a removed camera                                    | its row freed, its events ended  |
| name, group                                         | the incident desk's labels       |
"""

from __future__ import annotations

from collections.abc import Iterable

from detectors import CameraSetup
from riverwatch.config import LoadedConfig, ResolvedCamera
from riverwatch.config_edit import Applied


def camera_setup(camera: ResolvedCamera) -> CameraSetup:
    """What the detection core runs for a camera."""
    c = camera.config
    return CameraSetup(c.id, c.analysis, c.zones, c.tripwires)


def _stream(camera: ResolvedCamera) -> tuple[object, ...]:
    analysis = camera.config.analysis
    sub = camera.sub_url.get_secret_value() if camera.sub_url is not None else None
    return (
        camera.url.get_secret_value(),
        sub,
        camera.main_ring,
        analysis.decode_mode,
        analysis.detect_fps,
    )


def plan(old: LoadedConfig, new: LoadedConfig) -> Applied:
    """The cameras each kind of change touches, in the new config's order."""
    before = {c.id: c for c in old.cameras}
    after = {c.id: c for c in new.cameras}
    common = [c for c in new.cameras if c.id in before]
    return Applied(
        added=_ids(c for c in new.cameras if c.id not in before),
        removed=_ids(c for c in old.cameras if c.id not in after),
        restarted=_ids(c for c in common if _stream(c) != _stream(before[c.id])),
        rezoned=_ids(
            c
            for c in common
            if _stream(c) == _stream(before[c.id]) and camera_setup(c) != camera_setup(before[c.id])
        ),
    )


def _ids(cameras: Iterable[ResolvedCamera]) -> tuple[str, ...]:
    return tuple(c.id for c in cameras)
