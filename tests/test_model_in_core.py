"""The optional model stage inside the core and the hub's config (a tiny ONNX model built here)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from detectors import CameraSetup, CropModel, DetectionCore, ModelSpec, Phase, RegionModel
from detectors.background import BackgroundParams
from hub.cli import main
from riverwatch.batch import BatchView
from riverwatch.config import AnalysisConfig, ConfigError, ZoneConfig, parse_config
from tests.test_model_stage import LABELS, SIZE_HW, write_model

SHAPE = (96, 160)
ZONE = ZoneConfig(id="water", kind="no_fishing", polygon=[(0, 0.3), (1, 0.3), (1, 1), (0, 1)])


def boat_events(model: RegionModel | None, hull: int) -> list[str]:
    """A boat of brightness `hull` crossing noisy water; the rules of the events it raised."""
    core = DetectionCore(
        [CameraSetup("cam", AnalysisConfig(), [ZONE])],
        SHAPE,
        0,
        background=BackgroundParams(learn_s=0),
        model=model,
    )
    view = BatchView.empty(1, SHAPE)
    rng = np.random.default_rng(5)
    rules = []
    for t in range(40):
        frame = np.clip(rng.normal(110, 3, SHAPE), 0, 255).astype(np.uint8)
        if t >= 12:
            x = (t - 12) * 5
            frame[50:60, x : x + 24] = hull
            frame[60:62, x : x + 24] = 30  # the waterline: even a white hull darkens some water
        view.frames_nhw[0] = frame
        view.seq_n[0] += 1
        view.ts_n[0] = t * 1.0
        view.fresh_n[0] = True
        result = core.step(view, t * 1.0)
        rules += [e.rule for e in result.events if e.phase is Phase.START]
    return rules


@pytest.fixture
def region_model(tmp_path: Path) -> RegionModel:
    # The test model scores "vessel" by a crop's mean brightness (see test_model_stage).
    spec = ModelSpec(write_model(tmp_path / "m.onnx"), SIZE_HW, LABELS, context=0.0)
    return RegionModel(CropModel(spec), ("vessel",), 0.5)


def test_without_a_model_both_boats_are_reported() -> None:
    assert "vessel_in_zone" in boat_events(None, hull=30)
    assert "vessel_in_zone" in boat_events(None, hull=220)


def test_the_model_drops_the_regions_it_does_not_believe(region_model: RegionModel) -> None:
    assert boat_events(region_model, hull=30) == []  # scored ~0.15 "vessel": dropped
    assert "vessel_in_zone" in boat_events(region_model, hull=220)  # ~0.8: kept


CONFIG = """
model:
  path: {path}
  input_size: [16, 16]
  labels: [other, vessel]
  keep: {keep}
cameras:
  - {{id: cam, name: Cam, group: river, url: "file:///dev/null"}}
"""


def test_a_model_keeping_an_unknown_label_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="keep names labels the model does not have: boat"):
        parse_config(CONFIG.format(path=tmp_path / "m.onnx", keep="[boat]"))


def test_run_refuses_to_start_when_the_model_file_is_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "hub.yaml"
    config.write_text(CONFIG.format(path=tmp_path / "absent.onnx", keep="[vessel]"))
    assert main(["run", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "refusing to start" in err and "absent.onnx" in err
