"""Detectors: the batch of analysis frames in, events and decode-mode wishes out.

Public surface: `DetectionCore` (one `step` per tick over every camera), `CameraSetup` (what it
needs per camera), `RegionModel` and `CropModel` (the optional ONNX crop stage), `Verifier`
(the learnt region verifier, the same seam), `StepResult`,
the `Event` it emits with its `Phase`, and `ModeChanges`.
The pieces (`BackgroundModel`, `Tracker`, `RuleEngine`, `Attention`) are importable from their
modules for tests and benchmarks.
"""

from detectors.attention import ModeChanges
from detectors.core import FREE_SLOT, CameraSetup, DetectionCore, RegionModel, StepResult
from detectors.model import CropModel, ModelError, ModelLoadError, ModelSpec
from detectors.verifier import Verifier, VerifierError, VerifierLoadError
from detectors.zones import ZoneGrid, ZoneSpec, rasterise
from riverwatch.events import Event, Phase

__all__ = [
    "CameraSetup",
    "FREE_SLOT",
    "CropModel",
    "ModelError",
    "ModelLoadError",
    "ModelSpec",
    "RegionModel",
    "DetectionCore",
    "Event",
    "ModeChanges",
    "Phase",
    "StepResult",
    "Verifier",
    "VerifierError",
    "VerifierLoadError",
    "ZoneGrid",
    "ZoneSpec",
    "rasterise",
]
