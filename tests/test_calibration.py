"""Self-calibration without labels, sequence in / figures out, on generated frames.

Two cameras share one batch: one whose water glints (small crests with their troughs, at
random places, just above the configured threshold: a little over the budget as configured, so
that the bounded controller can bring it under) and one on calm water. After the glint a
boat crosses both. The same frames also run through a core whose calibration may not move, as
the reference the glinting camera is compared with.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pytest

from detectors import CameraSetup, DetectionCore, Phase
from detectors.background import BackgroundParams
from detectors.calibration import CalibrationParams
from detectors.regions import Regions
from detectors.verifier import Looks, SwappableVerifier, Verifier
from riverwatch.batch import BatchView
from riverwatch.config import AnalysisConfig, ZoneConfig
from riverwatch.types import RuleKind
from simulator.fleet import scene_zone

SHAPE = (180, 320)
STEP_S = 0.5
GLINT_OBS = 600  # five minutes of glint at two looks a second
SETTLED = 200  # the last looks of the glint, once the controller has had its time
BOAT_OBS = 60
RIVER = ZoneConfig.model_validate(scene_zone("river"))
F64 = npt.NDArray[np.float64]


@dataclass
class Run:
    """Per look: each camera's recent unconfirmed regions per look and its gain; the vessel
    events' (look, camera slot)."""

    rate_tn: F64
    gain_tn: F64
    vessels: list[tuple[int, int]]
    sensitivity_n: list[float]


def glinting_water(rng: np.random.Generator, glint: bool) -> npt.NDArray[np.float32]:
    luma = np.full(SHAPE, 110, np.float32) + rng.normal(0, 4, SHAPE).astype(np.float32)
    for _ in range(5 if glint else 0):
        y, x = int(rng.integers(70, 160)), int(rng.integers(0, 300))
        bright = rng.uniform(17, 18.5)
        luma[y : y + 8, x : x + 8] += bright  # a crest...
        luma[y + 8 : y + 12, x : x + 8] -= 0.7 * bright  # ...and its trough
    return luma


class RefuseAll(SwappableVerifier):
    """A model stage that calls every region water (as a verifier would on glint)."""

    def judge(
        self, frames_nhw: npt.NDArray[np.uint8], regions: Regions, earlier: Looks = None
    ) -> npt.NDArray[np.bool_]:
        return np.zeros(len(regions), np.bool_)


def run(calibration: CalibrationParams | None = None, model: Verifier | None = None) -> Run:
    rng = np.random.default_rng(7)
    setups = [CameraSetup(f"cam{i}", AnalysisConfig(), [RIVER]) for i in range(2)]
    core = DetectionCore(
        setups,
        SHAPE,
        0,
        background=BackgroundParams(learn_s=0.0),
        calibration=calibration,
        model=model,
    )
    view = BatchView.empty(2, SHAPE)
    rates, gains, vessels = [], [], []
    for t in range(GLINT_OBS + BOAT_OBS):
        for slot in range(2):
            luma = glinting_water(rng, glint=slot == 0 and t < GLINT_OBS)
            if t >= GLINT_OBS:  # a boat crosses both cameras at 10 px/s
                x = (t - GLINT_OBS) * 5
                luma[110:122, x : x + 28] = 50
            view.frames_nhw[slot] = np.clip(luma, 0, 255).astype(np.uint8)
            view.seq_n[slot] += 1
            view.ts_n[slot] = t * STEP_S
        view.fresh_n[:] = True
        result = core.step(view, t * STEP_S)
        vessels += [
            (t, int(e.camera_id[3:]))
            for e in result.events
            if e.phase is Phase.START and e.rule is RuleKind.VESSEL
        ]
        rates.append(core.calibration.rate_n)
        gains.append(core.calibration.gain_n)
    sensitivity = [core.calibration.sensitivity(slot) for slot in range(2)]
    return Run(np.array(rates), np.array(gains), vessels, sensitivity)


@pytest.fixture(scope="module")
def calibrated() -> Run:
    return run()


@pytest.fixture(scope="module")
def fixed() -> Run:
    return run(CalibrationParams(max_gain=1.0))


def test_a_glinting_camera_settles_to_a_quiet_rate_of_unconfirmed_regions(
    calibrated: Run, fixed: Run
) -> None:
    settled = slice(GLINT_OBS - SETTLED, GLINT_OBS)
    budget = CalibrationParams().budget
    assert fixed.rate_tn[settled, 0].mean() > budget  # the glint is over budget as configured
    assert calibrated.rate_tn[settled, 0].mean() <= budget
    assert calibrated.rate_tn[settled, 0].mean() < 0.9 * fixed.rate_tn[settled, 0].mean()
    assert calibrated.gain_tn[settled, 0].min() > 1.0
    assert calibrated.gain_tn[:, 0].max() <= CalibrationParams().max_gain


def test_a_boat_that_crosses_after_the_glint_is_still_found(calibrated: Run) -> None:
    assert calibrated.gain_tn[GLINT_OBS, 0] > 1.0  # still raised when the boat arrives
    found = {slot for t, slot in calibrated.vessels if t >= GLINT_OBS}
    assert found == {0, 1}
    first = min(t for t, slot in calibrated.vessels if t >= GLINT_OBS and slot == 0)
    assert first - GLINT_OBS <= 10  # within five seconds of its arrival


def test_a_calm_camera_keeps_its_configured_thresholds(calibrated: Run) -> None:
    assert np.all(calibrated.gain_tn[:, 1] == 1.0)
    assert calibrated.sensitivity_n[1] == AnalysisConfig().sensitivity


def test_the_adaptation_is_per_camera(calibrated: Run) -> None:
    raised = np.flatnonzero(calibrated.gain_tn[:, 0] > 1.0)
    assert len(raised)  # the glinting camera moved, its neighbour in the batch did not
    assert np.all(calibrated.gain_tn[raised, 1] == 1.0)
    assert np.all(calibrated.rate_tn[:GLINT_OBS, 1] < CalibrationParams().budget)


def test_regions_a_model_refuses_count_as_the_waters_noise(calibrated: Run) -> None:
    # The verifier learnt from the regions of a core without it: with the model in place the
    # camera must settle where it would without one, not grow more sensitive because the
    # model hides its glint from the controller.
    refused = run(model=RefuseAll())
    settled = slice(GLINT_OBS - SETTLED, GLINT_OBS)
    assert refused.gain_tn[settled, 0].min() > 1.0
    assert refused.rate_tn[settled, 0].mean() <= CalibrationParams().budget
    assert abs(refused.gain_tn[GLINT_OBS, 0] - calibrated.gain_tn[GLINT_OBS, 0]) < 0.1
    assert np.all(refused.gain_tn[:, 1] == 1.0)
    assert not refused.vessels  # nothing it refused reached the rules
