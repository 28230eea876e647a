"""The optional model stage: a tiny ONNX model built here, run on crops of generated frames.

The model's scores are predictable: for a crop of mean brightness m (0..1 after scaling) it
outputs ("other", "vessel") = (1 - m, m), exactly so for a uniform crop, since a 3x3 mean
filter without padding followed by a global average of a uniform crop is its value.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from detectors.model import CropModel, CropScores, ModelLoadError, ModelRunError, ModelSpec

LABELS = ("other", "vessel")
SIZE_HW = (16, 16)


def write_model(
    path: Path,
    *,
    channels: int = 1,
    size_hw: tuple[int, int] = SIZE_HW,
    outputs: int = 2,
    batch: int | str = "N",
    softmax: bool = False,
    batch_one_reshape: bool = False,
) -> Path:
    """Conv(3x3 mean, no padding) -> GlobalAveragePool -> Flatten [-> Softmax]: (1 - m, m)."""
    weight = np.zeros((outputs, channels, 3, 3), np.float32)
    weight[0], weight[1] = -1 / (9 * channels), 1 / (9 * channels)
    bias = np.zeros(outputs, np.float32)
    bias[0] = 1.0
    initializers = [numpy_helper.from_array(weight, "w"), numpy_helper.from_array(bias, "b")]
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["conv"]),
        helper.make_node("GlobalAveragePool", ["conv"], ["pool"]),
    ]
    if batch_one_reshape:  # a graph that only works for one crop at a time
        initializers.append(numpy_helper.from_array(np.array([1, outputs], np.int64), "shape"))
        nodes.append(helper.make_node("Reshape", ["pool", "shape"], ["flat"]))
    else:
        nodes.append(helper.make_node("Flatten", ["pool"], ["flat"], axis=1))
    if softmax:
        nodes.append(helper.make_node("Softmax", ["flat"], ["y"], axis=1))
    else:
        nodes.append(helper.make_node("Identity", ["flat"], ["y"]))
    graph = helper.make_graph(
        nodes,
        "crop_model",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, channels, *size_hw])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, outputs])],
        initializer=initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def spec_for(path: Path, **changes: Any) -> ModelSpec:
    fields: dict[str, Any] = {"input_size_hw": SIZE_HW, "labels": LABELS, "context": 0.0}
    return ModelSpec(path, **{**fields, **changes})


def scene() -> npt.NDArray[np.uint8]:
    """Three 36x64 frames, black but for uniform patches of known brightness."""
    frames_nhw = np.zeros((3, 36, 64), np.uint8)
    frames_nhw[0, 4:12, 8:24] = 200
    frames_nhw[1, 10:20, 30:50] = 40
    frames_nhw[2, 0:8, 0:8] = 220
    frames_nhw[2, 28:36, 56:64] = 150
    return frames_nhw


def boxes(*rows: tuple[int, tuple[int, int, int, int]]) -> tuple[Any, Any]:
    slot_k = np.array([slot for slot, _ in rows], np.intp)
    xyxy_k = np.array([box for _, box in rows], np.int32).reshape(-1, 4)
    return slot_k, xyxy_k


def expected(*brightness: float) -> npt.NDArray[np.float64]:
    m = np.array(brightness) / 255
    return np.stack([1 - m, m], axis=1)


def random_boxes(n: int, seed: int) -> tuple[npt.NDArray[np.uint8], Any, Any]:
    rng = np.random.default_rng(seed)
    frames_nhw = rng.integers(0, 256, (4, 36, 64), np.uint8)
    x0, y0 = rng.integers(-8, 60, n), rng.integers(-8, 32, n)
    w, h = rng.integers(1, 30, n), rng.integers(1, 20, n)
    xyxy_k = np.stack([x0, y0, x0 + w, y0 + h], axis=1).astype(np.int32)
    return frames_nhw, rng.integers(0, 4, n).astype(np.intp), xyxy_k


@pytest.fixture
def model_path(tmp_path: Path) -> Path:
    return write_model(tmp_path / "crop.onnx")


def test_one_row_per_box_in_the_order_given(model_path: Path) -> None:
    model = CropModel(spec_for(model_path))
    slot_k, xyxy_k = boxes(
        (1, (30, 10, 50, 20)), (0, (8, 4, 24, 12)), (2, (0, 0, 8, 8)), (1, (30, 10, 50, 20))
    )

    scores = model.score(scene(), slot_k, xyxy_k)

    assert scores.labels == LABELS
    assert scores.scores_kc.dtype == np.float32
    np.testing.assert_allclose(scores.scores_kc, expected(40, 200, 220, 40), atol=1e-4)
    assert [scores.label_of(k) for k in range(len(scores))] == [
        "other",
        "vessel",
        "vessel",
        "other",
    ]


def test_bright_box_scores_higher_on_vessel_than_dark_box(model_path: Path) -> None:
    frames_nhw = np.random.default_rng(1).integers(0, 60, (2, 36, 64), np.uint8)
    frames_nhw[0, 10:20, 20:40] = 230
    frames_nhw[1, 10:20, 20:40] = 5
    model = CropModel(spec_for(model_path, context=0.2))

    scores = model.score(frames_nhw, *boxes((0, (20, 10, 40, 20)), (1, (20, 10, 40, 20))))

    vessel = scores.scores_kc[:, LABELS.index("vessel")]
    assert vessel[0] > vessel[1]
    assert scores.mask("vessel", model.spec.min_score).tolist() == [True, False]
    assert scores.best_k.tolist() == [1, 0]
    np.testing.assert_allclose(scores.best_score_k, scores.scores_kc.max(axis=1))


@pytest.mark.parametrize(
    ("slot", "xyxy", "row"),
    [
        pytest.param(2, (-5, -5, 8, 8), expected(220)[0], id="partly-outside-top-left"),
        pytest.param(2, (56, 28, 70, 40), expected(150)[0], id="partly-outside-bottom-right"),
        pytest.param(2, (-20, -20, 8, 8), expected(220)[0], id="mostly-outside"),
        pytest.param(2, (70, 0, 80, 8), [0.0, 0.0], id="wholly-outside-scores-zeros"),
        pytest.param(0, (10, 4, 10, 12), [0.0, 0.0], id="zero-width-scores-zeros"),
        pytest.param(0, (20, 12, 10, 4), [0.0, 0.0], id="inverted-scores-zeros"),
    ],
)
def test_boxes_are_clipped_to_the_frame(
    model_path: Path, slot: int, xyxy: tuple[int, int, int, int], row: Any
) -> None:
    model = CropModel(spec_for(model_path))

    scores = model.score(scene(), *boxes((slot, xyxy), (0, (8, 4, 24, 12))))

    np.testing.assert_allclose(scores.scores_kc, [row, expected(200)[0]], atol=1e-4)


def test_context_takes_in_the_surroundings(model_path: Path) -> None:
    slot_k, xyxy_k = boxes((0, (8, 4, 24, 12)))
    tight = CropModel(spec_for(model_path, context=0.0)).score(scene(), slot_k, xyxy_k)
    wide = CropModel(spec_for(model_path, context=0.5)).score(scene(), slot_k, xyxy_k)

    np.testing.assert_allclose(tight.scores_kc, expected(200), atol=1e-4)
    assert 0.1 < wide.scores_kc[0, 1] < tight.scores_kc[0, 1] - 0.1


@pytest.mark.parametrize("batch", ["N", 4, 1], ids=["dynamic", "fixed-4", "fixed-1"])
def test_chunks_give_the_same_scores_as_one_batch(tmp_path: Path, batch: int | str) -> None:
    frames_nhw, slot_k, xyxy_k = random_boxes(45, seed=7)
    whole = CropModel(spec_for(write_model(tmp_path / "whole.onnx"), max_batch=64, context=0.2))
    chunked_path = write_model(tmp_path / "chunked.onnx", batch=batch)
    chunked = CropModel(spec_for(chunked_path, max_batch=8, context=0.2))

    one = whole.score(frames_nhw, slot_k, xyxy_k)
    several = chunked.score(frames_nhw, slot_k, xyxy_k)

    assert several.scores_kc.shape == (45, 2)
    np.testing.assert_allclose(several.scores_kc, one.scores_kc, atol=1e-5)


def test_zero_boxes_give_empty_scores(model_path: Path) -> None:
    scores = CropModel(spec_for(model_path)).score(scene(), *boxes())

    assert scores.scores_kc.shape == (0, 2)
    assert len(scores) == 0
    assert scores.best_k.shape == scores.best_score_k.shape == (0,)
    assert scores.mask("vessel", 0.5).shape == (0,)


def test_three_channel_model_gets_the_grey_channel_three_times(tmp_path: Path) -> None:
    slot_k, xyxy_k = boxes((0, (8, 4, 24, 12)), (1, (25, 5, 55, 25)), (2, (50, 20, 64, 36)))
    grey = CropModel(spec_for(write_model(tmp_path / "grey.onnx"), context=0.2))
    colour = CropModel(spec_for(write_model(tmp_path / "rgb.onnx", channels=3), context=0.2))

    np.testing.assert_allclose(
        colour.score(scene(), slot_k, xyxy_k).scores_kc,
        grey.score(scene(), slot_k, xyxy_k).scores_kc,
        atol=1e-5,
    )


def test_softmax_in_the_graph_or_in_the_spec_agree(tmp_path: Path) -> None:
    slot_k, xyxy_k = boxes((0, (8, 4, 24, 12)), (1, (30, 10, 50, 20)))
    in_graph = CropModel(spec_for(write_model(tmp_path / "sm.onnx", softmax=True)))
    in_spec = CropModel(spec_for(write_model(tmp_path / "logits.onnx"), softmax=True))

    a = in_graph.score(scene(), slot_k, xyxy_k).scores_kc
    b = in_spec.score(scene(), slot_k, xyxy_k).scores_kc

    np.testing.assert_allclose(a, b, atol=1e-5)
    np.testing.assert_allclose(a.sum(axis=1), 1.0, atol=1e-5)


def _garbage(path: Path) -> None:
    path.write_bytes(b"not a model, just some text\n" * 10)


def _truncated(path: Path) -> None:
    write_model(path)
    path.write_bytes(path.read_bytes()[:100])


@pytest.mark.parametrize(
    ("make", "message"),
    [
        pytest.param(lambda path: None, "cannot read", id="missing"),
        pytest.param(lambda path: path.mkdir(), "cannot read", id="directory"),
        pytest.param(lambda path: path.write_bytes(b""), "not an ONNX model", id="empty"),
        pytest.param(_garbage, "not an ONNX model", id="garbage"),
        pytest.param(_truncated, "not an ONNX model", id="truncated"),
    ],
)
def test_unloadable_file_is_a_load_error_naming_it(tmp_path: Path, make: Any, message: str) -> None:
    path = tmp_path / "model.onnx"
    make(path)

    with pytest.raises(ModelLoadError, match=message) as caught:
        CropModel(spec_for(path))

    assert str(path) in str(caught.value)


@pytest.mark.parametrize(
    ("model_args", "spec_changes", "message"),
    [
        pytest.param({}, {"labels": ("a", "b", "c")}, "one score per label", id="labels-count"),
        pytest.param({"outputs": 3}, {}, "one score per label", id="outputs-count"),
        pytest.param({}, {"input_size_hw": (32, 32)}, "input_size_hw", id="input-size"),
        pytest.param({"channels": 2}, {}, "1 or 3", id="two-channels"),
    ],
)
def test_model_that_does_not_fit_the_spec_is_a_load_error(
    tmp_path: Path, model_args: dict[str, Any], spec_changes: dict[str, Any], message: str
) -> None:
    path = write_model(tmp_path / "model.onnx", **model_args)

    with pytest.raises(ModelLoadError, match=message) as caught:
        CropModel(spec_for(path, **spec_changes))

    assert str(path) in str(caught.value)


def test_failing_forward_pass_is_a_run_error_and_the_model_stays_usable(tmp_path: Path) -> None:
    # onnxruntime refuses to reshape three crops' scores into [1, labels]. OpenCV 4.14's DNN
    # runs such a graph per crop (and right; see the next test), so it cannot provoke a failure.
    path = write_model(tmp_path / "one.onnx", batch_one_reshape=True)
    model = CropModel(spec_for(path, backend="onnxruntime"))
    frames_nhw = scene()

    with pytest.raises(ModelRunError, match="3 crops") as caught:
        model.score(frames_nhw, *boxes((0, (8, 4, 24, 12)), (1, (0, 0, 9, 9)), (2, (0, 0, 8, 8))))

    assert str(path) in str(caught.value)
    one = model.score(frames_nhw, *boxes((0, (8, 4, 24, 12))))
    np.testing.assert_allclose(one.scores_kc, expected(200), atol=1e-4)


def test_opencv_backend_scores_a_batch_one_graph_crop_by_crop(tmp_path: Path) -> None:
    path = write_model(tmp_path / "one.onnx", batch_one_reshape=True)
    model = CropModel(spec_for(path))

    alone = CropModel(spec_for(path, backend="onnxruntime"))
    crops = [(0, (8, 4, 24, 12)), (1, (0, 0, 9, 9)), (2, (0, 0, 8, 8))]

    together = model.score(scene(), *boxes(*crops)).scores_kc

    each = np.concatenate([alone.score(scene(), *boxes(crop)).scores_kc for crop in crops])
    np.testing.assert_allclose(together, each, atol=1e-4)
    np.testing.assert_allclose(together[0], expected(200)[0], atol=1e-4)


def test_onnxruntime_backend_missing_is_a_load_error(
    model_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # makes `import onnxruntime` fail

    with pytest.raises(ModelLoadError, match="onnxruntime package is not installed"):
        CropModel(spec_for(model_path, backend="onnxruntime"))


@pytest.mark.skipif(
    importlib.util.find_spec("onnxruntime") is None, reason="onnxruntime is not installed"
)
def test_onnxruntime_backend_gives_the_same_scores(tmp_path: Path) -> None:
    frames_nhw, slot_k, xyxy_k = random_boxes(20, seed=3)
    path = write_model(tmp_path / "model.onnx")
    opencv = CropModel(spec_for(path, max_batch=8, context=0.2))
    ort = CropModel(spec_for(path, max_batch=8, context=0.2, backend="onnxruntime"))

    np.testing.assert_allclose(
        ort.score(frames_nhw, slot_k, xyxy_k).scores_kc,
        opencv.score(frames_nhw, slot_k, xyxy_k).scores_kc,
        atol=1e-5,
    )
    broken_path = write_model(tmp_path / "one.onnx", batch_one_reshape=True)
    broken = CropModel(spec_for(broken_path, backend="onnxruntime"))
    with pytest.raises(ModelRunError, match="onnxruntime forward pass on 2 crops failed"):
        broken.score(scene(), *boxes((0, (8, 4, 24, 12)), (1, (30, 10, 50, 20))))


@pytest.mark.parametrize(
    ("frames_nhw", "slot_k", "xyxy_k"),
    [
        pytest.param(np.zeros((2, 8, 8), np.float32), [0], [[0, 0, 4, 4]], id="float-frames"),
        pytest.param(np.zeros((2, 8, 8), np.uint8), [2], [[0, 0, 4, 4]], id="slot-out-of-range"),
        pytest.param(np.zeros((2, 8, 8), np.uint8), [0, 1], [[0, 0, 4, 4]], id="lengths-differ"),
        pytest.param(np.zeros((2, 8, 8), np.uint8), [0], [[0, 0, 4]], id="not-xyxy"),
    ],
)
def test_bad_score_arguments_are_value_errors(
    model_path: Path, frames_nhw: Any, slot_k: list[int], xyxy_k: list[list[int]]
) -> None:
    model = CropModel(spec_for(model_path))

    with pytest.raises(ValueError):
        model.score(frames_nhw, np.array(slot_k, np.intp), np.array(xyxy_k, np.int32))


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"labels": ()}, id="no-labels"),
        pytest.param({"labels": ("a", "a")}, id="duplicate-labels"),
        pytest.param({"input_size_hw": (0, 16)}, id="empty-input"),
        pytest.param({"max_batch": 0}, id="zero-batch"),
        pytest.param({"context": -0.1}, id="negative-context"),
        pytest.param({"backend": "tensorrt"}, id="unknown-backend"),
    ],
)
def test_bad_spec_is_a_value_error(tmp_path: Path, changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        spec_for(tmp_path / "model.onnx", **changes)


def test_crop_scores_validate_and_filter() -> None:
    scores = CropScores(np.array([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6]], np.float32), LABELS)

    kept = scores.filter(scores.mask("vessel", 0.5))
    np.testing.assert_array_equal(kept.scores_kc, scores.scores_kc[1:])
    assert len(CropScores.empty(LABELS)) == 0
    with pytest.raises(ValueError, match="unknown label 'person'"):
        scores.mask("person", 0.5)
    with pytest.raises(ValueError, match=r"shape \(k, 3\)"):
        CropScores(np.zeros((2, 2), np.float32), ("a", "b", "c"))
    with pytest.raises(ValueError):
        CropScores(np.zeros(2, np.float32), ("a", "b"))
