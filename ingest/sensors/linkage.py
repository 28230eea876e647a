"""Sensors linked to cameras: a turbidity rise downstream of a camera backs a dredging alert.

A dredger stirs up the bed; the plume drifts downstream and a turbidity sensor there sees it
rise within minutes. `Linkage.dredging_confidence(camera_id, at, base)` raises a dredging
alert's confidence when a turbidity sensor configured `downstream` of that camera rose by at
least `min_rise_ntu` within the `window_s` before `at`; a sensor upstream, a fall, an old rise
or a camera without linked sensors leaves the confidence as it was.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from ingest.sensors.reading import Reading
from riverwatch.sensor_config import LinkageConfig, SensorConfig, SensorKind

_MAX_POINTS = 100_000


class Linkage:
    """Recent turbidity of every sensor linked downstream of a camera.

    >>> from riverwatch.sensor_config import SensorConfig
    >>> link = Linkage([SensorConfig(id="t1", kind="turbidity",
    ...                              cameras=[{"camera_id": "cam-1"}])], LinkageConfig())
    >>> for ts, ntu in [(0, 10.0), (60, 12.0), (120, 40.0)]:
    ...     link.observe(Reading("t1", ts, ntu, "NTU"))
    >>> link.dredging_confidence("cam-1", at=130, base=0.4)
    0.7
    >>> link.dredging_confidence("cam-2", at=130, base=0.4)
    0.4
    """

    def __init__(self, sensors: Iterable[SensorConfig], config: LinkageConfig) -> None:
        self._config = config
        self._by_camera: dict[str, list[str]] = {}
        self._history: dict[str, deque[tuple[float, float]]] = {}
        for sensor in sensors:
            if sensor.kind is not SensorKind.TURBIDITY:
                continue
            for link in sensor.cameras:
                if link.position == "downstream":
                    self._by_camera.setdefault(link.camera_id, []).append(sensor.id)
                    self._history.setdefault(sensor.id, deque(maxlen=_MAX_POINTS))

    def observe(self, reading: Reading) -> None:
        """Remember a linked sensor's reading (readings of each sensor come in time order)."""
        points = self._history.get(reading.sensor_id)
        if points is None or (points and reading.ts <= points[-1][0]):
            return  # late or repeated readings would break the time order `rise` relies on
        points.append((reading.ts, reading.value))
        # Keep two windows: a dredging alert may be judged a little after its newest reading.
        horizon = reading.ts - 2 * self._config.window_s
        while points and points[0][0] < horizon:
            points.popleft()

    def rise(self, sensor_id: str, at: float) -> float:
        """The largest rise (a later value minus an earlier one) within the window before `at`."""
        start = at - self._config.window_s
        best, low = 0.0, float("inf")
        for ts, value in self._history.get(sensor_id, ()):
            if ts < start or ts > at:
                continue
            low = min(low, value)
            best = max(best, value - low)
        return best

    def dredging_confidence(self, camera_id: str, at: float, base: float) -> float:
        """`base` raised by the strongest recent rise among the camera's downstream sensors."""
        cfg = self._config
        base = min(max(base, 0.0), 1.0)
        rise = max((self.rise(s, at) for s in self._by_camera.get(camera_id, ())), default=0.0)
        if rise < cfg.min_rise_ntu:
            return base
        span = cfg.full_rise_ntu - cfg.min_rise_ntu
        strength = 1.0 if span <= 0 else min((rise - cfg.min_rise_ntu) / span, 1.0)
        # Boost only the room left above `base`, so the result stays a probability.
        return round(base + (1.0 - base) * cfg.max_boost * max(strength, 0.0), 6)
