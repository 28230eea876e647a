"""Optional model stage: an operator's ONNX classifier scores crops of the active regions.

The project ships no weights and downloads none. An operator who has a vessel/person classifier
as ONNX names it in a `ModelSpec`; `CropModel` cuts each region (with some context) out of its
camera's analysis frame, resizes it to the model's input and scores all cameras' crops together,
in batches. OpenCV's DNN module (part of opencv-python-headless) runs the model by default;
onnxruntime does when it is installed and `backend="onnxruntime"` is chosen.

The analysis frames are luma only, so crops are grey. The model's input shape is read from the
ONNX file itself (its first graph input that is not a weight), not found by a probe run: OpenCV 5
runs a 3-channel model on a 1-channel blob without complaint and returns wrong scores. A model
declaring 3 input channels gets the grey channel three times; 1 or 3 are the only channel counts
accepted. A model exported with a fixed batch size (torch.onnx.export's default) runs in chunks
of exactly that size, the last one padded; `max_batch` bounds the chunks of a dynamic batch.

Exceptions::

    ModelError          anything this module raises on purpose
    ├── ModelLoadError  the file is missing, unreadable, not ONNX, or does not fit the spec
    └── ModelRunError   a forward pass failed or returned scores of the wrong shape

Example::

    model = CropModel(ModelSpec(Path("vessel.onnx"), (64, 64), ("other", "vessel"), softmax=True))
    scores = model.score(frames_nhw, regions.slot_k, regions.xyxy_k)
    vessel_k = scores.mask("vessel", model.spec.min_score)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
import numpy.typing as npt

logger = logging.getLogger(__name__)

F32 = npt.NDArray[np.float32]
_Forward = Callable[[F32], npt.NDArray[Any]]


class ModelError(Exception):
    """Base of every error this module raises on purpose."""


class ModelLoadError(ModelError):
    """The model file is missing, unreadable, not ONNX, or does not fit its `ModelSpec`."""


class ModelRunError(ModelError):
    """A forward pass failed, or its output did not give one score per label per crop."""


@dataclass(frozen=True)
class ModelSpec:
    """Which ONNX model scores the crops, and how crops are prepared for it.

    `labels` name the model's outputs in order. Pixels reach the model as
    `(luma - mean) * scale` (cv2.dnn.blobFromImages' convention; the default gives 0..1).
    `softmax=True` turns the model's outputs (logits) into probabilities; leave it False when
    the model already ends in a Softmax or Sigmoid. `context` widens each box on every side by
    that fraction of its width/height before cutting. `min_score` is the threshold callers pass
    to `CropScores.mask`; the model itself does not filter.
    """

    path: Path
    input_size_hw: tuple[int, int]
    labels: tuple[str, ...]
    backend: Literal["opencv", "onnxruntime"] = "opencv"
    mean: float = 0.0
    scale: float = 1 / 255
    min_score: float = 0.5
    max_batch: int = 32
    context: float = 0.2
    softmax: bool = False

    def __post_init__(self) -> None:
        if not self.labels or len(set(self.labels)) != len(self.labels):
            raise ValueError(f"labels must be non-empty and unique, got {self.labels}")
        if len(self.input_size_hw) != 2 or min(self.input_size_hw) < 1:
            raise ValueError(f"input_size_hw must be two positive sizes, got {self.input_size_hw}")
        if self.backend not in ("opencv", "onnxruntime"):
            raise ValueError(f"backend must be 'opencv' or 'onnxruntime', got {self.backend!r}")
        if self.max_batch < 1 or self.context < 0:
            raise ValueError("max_batch must be >= 1 and context >= 0")


@dataclass(frozen=True)
class CropScores:
    """Scores of crops, one row per crop (k) in the order the boxes came, one column per label.

    A box with no pixels inside its frame scores zeros in every column.
    """

    scores_kc: F32
    labels: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.scores_kc.ndim != 2 or self.scores_kc.shape[1] != len(self.labels):
            raise ValueError(
                f"scores_kc must have shape (k, {len(self.labels)}), got {self.scores_kc.shape}"
            )

    def __len__(self) -> int:
        return int(self.scores_kc.shape[0])

    @property
    def best_k(self) -> npt.NDArray[np.intp]:
        """Index of the highest-scoring label of each crop."""
        best: npt.NDArray[np.intp] = np.argmax(self.scores_kc, axis=1)
        return best

    @property
    def best_score_k(self) -> F32:
        """Score of the highest-scoring label of each crop."""
        best: F32 = self.scores_kc.max(axis=1)
        return best

    def label_of(self, k: int) -> str:
        """The highest-scoring label of crop `k`."""
        return self.labels[int(np.argmax(self.scores_kc[k]))]

    def mask(self, label: str, min_score: float) -> npt.NDArray[np.bool_]:
        """Crops whose score for `label` is at least `min_score`."""
        if label not in self.labels:
            raise ValueError(f"unknown label {label!r}; the model's labels are {self.labels}")
        hit: npt.NDArray[np.bool_] = self.scores_kc[:, self.labels.index(label)] >= min_score
        return hit

    def filter(self, mask_k: npt.NDArray[np.bool_]) -> CropScores:
        """Keep the crops where `mask_k` is true (pairs with `Regions.filter`)."""
        return CropScores(self.scores_kc[mask_k], self.labels)

    @classmethod
    def empty(cls, labels: tuple[str, ...]) -> CropScores:
        """No crops."""
        return cls(np.zeros((0, len(labels)), np.float32), labels)


class CropModel:
    """An ONNX classifier, loaded once, that scores crops of boxes in a batch of grey frames.

    Loading reads the file, checks its declared input against the spec, and runs one probe crop
    to check that the output has one score per label; any failure is a `ModelLoadError`.
    Not thread-safe: the backends keep per-net buffers, so use one instance per worker thread.
    """

    def __init__(self, spec: ModelSpec) -> None:
        self._spec = spec
        self._channels, fixed_batch = _declared_input(spec)
        self._batch = fixed_batch or spec.max_batch
        self._pad = fixed_batch is not None
        if spec.backend == "onnxruntime":
            self._forward = _open_onnxruntime(spec.path)
        else:
            self._forward = _open_opencv(spec.path)
        try:
            self._run(self._padded(np.zeros((1, self._channels, *spec.input_size_hw), np.float32)))
        except ModelRunError as exc:
            raise ModelLoadError(f"{exc} (probe run at load)") from exc
        logger.info(
            "loaded crop model %s: backend %s, input %dx%dx%d, batch %s, labels %s",
            spec.path,
            spec.backend,
            self._channels,
            *spec.input_size_hw,
            fixed_batch or f"dynamic (max {spec.max_batch})",
            ",".join(spec.labels),
        )

    @property
    def spec(self) -> ModelSpec:
        """The spec the model was loaded with."""
        return self._spec

    def score(
        self,
        frames_nhw: npt.NDArray[np.uint8],
        slot_k: npt.NDArray[np.intp],
        xyxy_k: npt.NDArray[np.int32],
    ) -> CropScores:
        """Score box k (x0, y0, x1, y1; x1/y1 exclusive) of frame row `slot_k[k]`.

        Boxes are widened by `context` and clipped to the frame; a box left with no pixels
        (outside the frame, zero width or height) scores zeros and is not sent to the model.
        One forward call per chunk, none when there is nothing to score. Raises `ModelRunError`.
        """
        _check_boxes(frames_nhw, slot_k, xyxy_k)
        scores_kc = np.zeros((len(slot_k), len(self._spec.labels)), np.float32)
        box_k = _crop_boxes(xyxy_k, self._spec.context, frames_nhw.shape[1:])
        live_k = np.flatnonzero((box_k[:, 2] > box_k[:, 0]) & (box_k[:, 3] > box_k[:, 1]))
        for start in range(0, len(live_k), self._batch):
            chunk = live_k[start : start + self._batch]
            blob = self._blob(frames_nhw, slot_k[chunk], box_k[chunk])
            scores_kc[chunk] = self._run(self._padded(blob))[: len(chunk)]
        return CropScores(scores_kc, self._spec.labels)

    def _blob(
        self,
        frames_nhw: npt.NDArray[np.uint8],
        slot_b: npt.NDArray[np.intp],
        box_b: npt.NDArray[np.intp],
    ) -> F32:
        h, w = self._spec.input_size_hw
        crops_bhw = np.empty((len(slot_b), h, w), np.uint8)
        for i, (slot, (x0, y0, x1, y1)) in enumerate(
            zip(slot_b.tolist(), box_b.tolist(), strict=True)
        ):
            crop = frames_nhw[slot, y0:y1, x0:x1]
            shrink = crop.shape[0] >= h and crop.shape[1] >= w
            crops_bhw[i] = cv2.resize(
                crop, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
            )
        blob: F32 = (crops_bhw.astype(np.float32) - self._spec.mean) * self._spec.scale
        return np.ascontiguousarray(np.repeat(blob[:, None], self._channels, axis=1))

    def _padded(self, blob: F32) -> F32:
        if not self._pad or len(blob) == self._batch:
            return blob
        fill = np.zeros((self._batch - len(blob), *blob.shape[1:]), np.float32)
        return np.concatenate([blob, fill])

    def _run(self, blob: F32) -> F32:
        out = self._forward(blob)
        n, c = len(blob), len(self._spec.labels)
        if out.ndim < 2 or out.shape[0] != n or out[0].size != c:
            raise ModelRunError(
                f"model file {self._spec.path}: output shape {out.shape} for {n} crops does not "
                f"give one score per label {self._spec.labels}"
            )
        scores = out.reshape(n, c).astype(np.float32)
        return _softmax(scores) if self._spec.softmax else scores


def _open_opencv(path: Path) -> _Forward:
    try:
        net = cv2.dnn.readNetFromONNX(str(path))
    except cv2.error as exc:
        raise ModelLoadError(
            f"model file {path}: OpenCV DNN cannot load it: {_brief(exc)}"
        ) from exc

    def forward(blob: F32) -> npt.NDArray[Any]:
        try:
            net.setInput(blob)
            return np.asarray(net.forward())
        except cv2.error as exc:
            raise ModelRunError(
                f"model file {path}: OpenCV forward pass on {len(blob)} crops failed: {_brief(exc)}"
            ) from exc

    return forward


def _open_onnxruntime(path: Path) -> _Forward:
    try:
        import onnxruntime
    except ImportError as exc:
        raise ModelLoadError(
            f"model file {path}: backend 'onnxruntime' was chosen but the onnxruntime package is "
            "not installed; install it or use backend 'opencv'"
        ) from exc
    # onnxruntime's errors share no base class below Exception; each is re-raised as ours.
    try:
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
    except Exception as exc:
        raise ModelLoadError(f"model file {path}: onnxruntime cannot load it: {exc}") from exc

    def forward(blob: F32) -> npt.NDArray[Any]:
        try:
            return np.asarray(session.run(None, {name: blob})[0])
        except Exception as exc:
            raise ModelRunError(
                f"model file {path}: onnxruntime forward pass on {len(blob)} crops failed: {exc}"
            ) from exc

    return forward


def _declared_input(spec: ModelSpec) -> tuple[int, int | None]:
    """Channels and fixed batch size (None: dynamic) of the model's input, checked against spec."""
    try:
        data = spec.path.read_bytes()
    except OSError as exc:
        raise ModelLoadError(f"model file {spec.path}: cannot read it: {exc}") from exc
    try:
        dims = _onnx_input_dims(data)
    except ValueError as exc:
        raise ModelLoadError(f"model file {spec.path}: not an ONNX model: {exc}") from exc
    shown = "[" + ", ".join("?" if d is None else str(d) for d in dims) + "]"
    if len(dims) != 4 or dims[1] not in (1, 3):
        raise ModelLoadError(
            f"model file {spec.path}: input shape {shown} is not [batch, 1 or 3, height, width]"
        )
    if any(
        d is not None and d != want for d, want in zip(dims[2:], spec.input_size_hw, strict=True)
    ):
        raise ModelLoadError(
            f"model file {spec.path}: input shape {shown} does not take the spec's "
            f"input_size_hw {spec.input_size_hw}"
        )
    return (3 if dims[1] == 3 else 1), dims[0]


def _onnx_input_dims(data: bytes) -> tuple[int | None, ...]:
    """Dimensions of an ONNX model's first graph input that is not a weight (None: symbolic).

    Reads the protobuf wire format directly (ModelProto.graph=7; GraphProto.initializer=5,
    input=11; ValueInfoProto.name=1, type=2; TypeProto.tensor_type=1; Tensor.shape=2;
    TensorShapeProto.dim=1; Dimension.dim_value=1), so no onnx package is needed at run time.
    """
    graph = next(_messages(memoryview(data), 7), None)
    if graph is None:
        raise ValueError("no graph in the file")
    weights = {bytes(name) for name in _messages(graph, 5, 8)}
    for value_info in _messages(graph, 11):
        if bytes(next(_messages(value_info, 1), b"")) in weights:
            continue
        return tuple(_dim_value(dim) for dim in _messages(value_info, 2, 1, 2, 1))
    raise ValueError("the graph has no input")


def _dim_value(dim: memoryview) -> int | None:
    value = next((v for f, v in _fields(dim) if f == 1 and isinstance(v, int)), None)
    # Unset, zero or negative (a 10-byte varint) means the exporter left the size open.
    return value if value is not None and 0 < value < 2**63 else None


def _messages(buf: memoryview, *path: int) -> Iterator[memoryview]:
    """Every length-delimited value reached by following field numbers `path` from `buf`."""
    if not path:
        yield buf
        return
    for field, value in _fields(buf):
        if field == path[0] and isinstance(value, memoryview):
            yield from _messages(value, *path[1:])


def _fields(buf: memoryview) -> Iterator[tuple[int, int | memoryview]]:
    """(field number, value) pairs of one protobuf message; fixed-width values are skipped."""
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
            yield field, value
        elif wire == 2:
            size, i = _varint(buf, i)
            if i + size > len(buf):
                raise ValueError("truncated field")
            yield field, buf[i : i + size]
            i += size
        elif wire in (1, 5):
            i += 8 if wire == 1 else 4
        else:
            raise ValueError(f"unexpected protobuf wire type {wire}")
    if i != len(buf):
        raise ValueError("truncated field")


def _varint(buf: memoryview, i: int) -> tuple[int, int]:
    value = shift = 0
    while i < len(buf) and shift < 64:
        byte = buf[i]
        value |= (byte & 0x7F) << shift
        i += 1
        if not byte & 0x80:
            return value, i
        shift += 7
    raise ValueError("truncated varint")


def _crop_boxes(
    xyxy_k: npt.NDArray[np.int32], context: float, shape_hw: tuple[int, ...]
) -> npt.NDArray[np.intp]:
    """Boxes widened by `context` of their size on each side, clipped to the frame."""
    box = xyxy_k.astype(np.float64).reshape(-1, 4)
    margin = (box[:, 2:] - box[:, :2]) * context
    limit = np.array([shape_hw[1], shape_hw[0]], np.float64)
    lo = np.clip(np.floor(box[:, :2] - margin), 0, limit)
    hi = np.clip(np.ceil(box[:, 2:] + margin), 0, limit)
    return np.concatenate([lo, hi], axis=1).astype(np.intp)


def _check_boxes(
    frames_nhw: npt.NDArray[np.uint8],
    slot_k: npt.NDArray[np.intp],
    xyxy_k: npt.NDArray[np.int32],
) -> None:
    if frames_nhw.ndim != 3 or frames_nhw.dtype != np.uint8:
        raise ValueError(
            f"frames_nhw must be uint8 (n, h, w), got {frames_nhw.dtype} {frames_nhw.shape}"
        )
    k = len(slot_k)
    if slot_k.shape != (k,) or xyxy_k.shape != (k, 4):
        raise ValueError(f"need slot_k (k,) and xyxy_k (k, 4), got {slot_k.shape} {xyxy_k.shape}")
    if k and (slot_k.min() < 0 or slot_k.max() >= len(frames_nhw)):
        raise ValueError(f"slot_k must index the {len(frames_nhw)} rows of frames_nhw")


def _softmax(logits_kc: F32) -> F32:
    shifted = np.exp(logits_kc - logits_kc.max(axis=1, keepdims=True))
    probs: F32 = shifted / shifted.sum(axis=1, keepdims=True)
    return probs


def _brief(exc: cv2.error) -> str:
    """OpenCV's message without its source-file preamble, on one line."""
    text = str(exc).strip()
    return text.split("error: ", 1)[-1].replace("\n", " ")
