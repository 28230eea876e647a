"""Each camera's earlier look (`detectors.looks`): the rule that picks it, and the core handing it
to the verifier."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from detectors import CameraSetup, DetectionCore
from detectors.background import BackgroundParams
from detectors.looks import EarlierLooks
from detectors.regions import Regions
from detectors.verifier import Looks, SwappableVerifier
from riverwatch.batch import BatchView
from riverwatch.config import AnalysisConfig, ZoneConfig
from simulator.fleet import scene_zone

SHAPE = (36, 64)


def stamped(values: list[int]) -> npt.NDArray[np.uint8]:
    """One frame per camera, each filled with its value (a look is known by its value)."""
    return np.array(values, np.uint8)[:, None, None] * np.ones((1, *SHAPE), np.uint8)


def walk(looks: EarlierLooks, stamps: list[float]) -> list[float | None]:
    """Feed camera 0 a frame at each of `stamps`; the age of the look each frame got."""
    ages: list[float | None] = []
    ts_n = np.zeros(1)
    for i, ts in enumerate(stamps):
        ts_n[0] = ts
        look = looks.usable([0], ts_n).get(0)
        ages.append(None if look is None else ts - stamps[int(look[0, 0])])
        looks.remember(stamped([i]), np.zeros(1, np.intp), ts_n)
    return ages


def test_a_full_rate_camera_always_has_a_look_three_to_six_seconds_back() -> None:
    ages = walk(EarlierLooks(1, SHAPE), [i * 0.2 for i in range(100)])
    assert all(age is None for age in ages[:15])  # nothing three seconds old yet
    assert all(age is not None and 3.0 - 1e-9 <= age <= 6.0 + 1e-9 for age in ages[15:])


def test_three_photos_a_minute_compare_each_with_the_one_before() -> None:
    stamps = [0.0, 5.0, 10.0, 60.0, 65.0, 70.0]
    ages = walk(EarlierLooks(1, SHAPE), stamps)
    assert ages == [None, 5.0, 5.0, None, 5.0, 5.0]  # 50 s back is another moment


def test_each_camera_keeps_its_own_looks_and_a_clock_going_back_starts_over() -> None:
    looks = EarlierLooks(2, SHAPE)
    both = np.arange(2, dtype=np.intp)
    looks.remember(stamped([1, 2]), both, np.array([0.0, 0.0]))
    got = looks.usable([0, 1], np.array([4.0, 1.0]))
    assert set(got) == {0} and int(got[0][0, 0]) == 1
    looks.remember(stamped([3, 4]), both, np.array([-100.0, -100.0]))  # clock reset
    got = looks.usable([0, 1], np.array([-96.0, -96.0]))
    assert int(got[0][0, 0]) == 3 and int(got[1][0, 0]) == 4


class Recording(SwappableVerifier):
    """Keeps every region, noting the earlier look each camera's regions were judged with."""

    def __init__(self) -> None:
        super().__init__(None)
        self.seen: list[tuple[float, int | None]] = []
        self.now = 0.0

    def judge(
        self, frames_nhw: npt.NDArray[np.uint8], regions: Regions, earlier: Looks = None
    ) -> npt.NDArray[np.bool_]:
        if len(regions):
            look = (earlier or {}).get(0)
            self.seen.append((self.now, None if look is None else int(look[0, 0])))
        return np.ones(len(regions), np.bool_)


def test_the_core_hands_its_verifier_the_cameras_earlier_look() -> None:
    shape = (180, 320)
    setup = CameraSetup("cam", AnalysisConfig(), [ZoneConfig.model_validate(scene_zone("river"))])
    verifier = Recording()
    core = DetectionCore(
        [setup], shape, 0, background=BackgroundParams(learn_s=0.0), model=verifier
    )
    view = BatchView.empty(1, shape)
    rng = np.random.default_rng(5)
    for t in range(80):  # one look a second; a boat crosses from the 40th
        luma = np.full(shape, 110.0) + rng.normal(0, 3, shape)
        if t >= 40:
            luma[110:122, (t - 40) * 6 : (t - 40) * 6 + 28] = 50
        luma[0, 0] = t  # the frame's own number, to know a look by
        view.frames_nhw[0] = np.clip(luma, 0, 255).astype(np.uint8)
        view.seq_n[0] += 1
        view.ts_n[0] = verifier.now = float(t)
        view.fresh_n[0] = True
        core.step(view, float(t))
    judged = [(now, look) for now, look in verifier.seen if now >= 42]
    assert judged  # the boat's regions were judged
    assert all(look is not None and 3 <= now - look <= 6 for now, look in judged)
