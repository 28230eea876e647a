"""The site's verifier: its versions, retraining it from the reviewers' labels, activating one.

Training runs in a worker thread (it reads every labelled snapshot and fits the model); the
hub's running verifier is swapped at its next tick when the config says `verifier: site`.
Versions and the comparison rule are `detectors.site_verifier`'s.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from alerts.labels import Label, read_samples
from api.deps import HubDep, SamplesDep
from api.security.deps import AUTH_RESPONSES, AuditDep, Reviewer, error
from detectors import VerifierLoadError
from detectors.site_verifier import (
    Comparison,
    LabelledBox,
    NotEnoughLabels,
    Outcome,
    SiteVerifierError,
    SiteVerifiers,
    TrainingBusy,
    UnknownVersion,
    VersionInfo,
    WorseModel,
)

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/verifier", tags=["verifier"], responses=AUTH_RESPONSES)


def labelled_boxes(root: Path) -> list[LabelledBox]:
    """The label store's samples at `root` as training boxes (blocking)."""
    return [
        LabelledBox(root / s.image, s.box_xyxy, s.label is Label.BOAT, s.ts)
        for s in read_samples(root)
    ]


def get_site(hub: HubDep) -> SiteVerifiers:
    """The hub's site verifier versions."""
    return hub.site_verifiers()


SiteDep = Annotated[SiteVerifiers, Depends(get_site)]


_SCORE: JsonDict = {
    "split": "later 30 % of the labels, by time",
    "regions": 40,
    "accuracy": 0.9,
    "precision": 0.88,
    "recall": 0.82,
    "f1": 0.85,
}


class ScoreOut(BaseModel):
    """A held-out score: region accuracy, precision, recall and F1 of the vessel label."""

    split: str
    regions: int
    accuracy: float
    precision: float
    recall: float
    f1: float


class ComparisonOut(BaseModel):
    """A version against the model active then, on the same held-out labelled boxes."""

    rows: int
    new: ScoreOut | None
    active: ScoreOut | None
    worse: bool
    reason: str

    @classmethod
    def of(cls, c: Comparison) -> ComparisonOut:
        """Build from the registry's comparison."""
        new = ScoreOut.model_validate(c.new, from_attributes=True) if c.new else None
        active = ScoreOut.model_validate(c.active, from_attributes=True) if c.active else None
        return cls(rows=c.rows, new=new, active=active, worse=c.worse, reason=c.reason)


class VersionOut(BaseModel):
    """One stored version."""

    version: str
    created: str
    state: str = Field(description="active, candidate (awaiting a reviewer) or kept")
    reason: str
    held_out: ScoreOut | None
    per_label: dict[str, int] = Field(description="training boxes per label")
    comparison: ComparisonOut | None

    @classmethod
    def of(cls, v: VersionInfo) -> VersionOut:
        """Build from the registry's version."""
        held = ScoreOut.model_validate(v.held_out, from_attributes=True) if v.held_out else None
        return cls(version=v.version, created=v.created, state=v.state, reason=v.reason,
                   held_out=held, per_label=v.per_label,
                   comparison=ComparisonOut.of(v.comparison) if v.comparison else None)  # fmt: skip


class VerifierOut(BaseModel):
    """The site verifier: the active version, every version, and the labels to train on."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "active": "v0002",
                    "live": True,
                    "versions": [
                        {
                            "version": "v0002",
                            "created": "2026-12-05T23:04:54+00:00",
                            "state": "active",
                            "reason": "scores no worse than v0001 on the same held-out boxes",
                            "held_out": _SCORE,
                            "per_label": {"vessel": 120, "other": 300},
                            "comparison": None,
                        }
                    ],
                    "labels": {"boat": 140, "not_boat": 310},
                }
            ]
        }
    )

    active: str | None
    live: bool = Field(description="whether the running hub uses the site verifier")
    problem: str | None = Field(
        default=None,
        description="why the active version is not running (made by an older riverwatch: retrain)",
    )
    versions: list[VersionOut]
    labels: dict[str, int] = Field(description="labelled boxes by label")


class OutcomeOut(BaseModel):
    """What a training or an activation did."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "version": "v0003",
                    "activated": False,
                    "state": "kept",
                    "held_out": _SCORE,
                    "active_held_out": {**_SCORE, "f1": 0.87},
                    "reason": "F1 0.85 is worse than the active v0002's 0.87 on the same boxes",
                }
            ]
        }
    )

    version: str
    activated: bool
    state: str = Field(description="active, candidate (awaiting a reviewer) or kept")
    held_out: ScoreOut | None = Field(description="the version's held-out score")
    active_held_out: ScoreOut | None = Field(
        description="the previously active model's score on the same held-out boxes"
    )
    reason: str

    @classmethod
    def of(cls, o: Outcome) -> OutcomeOut:
        """Build from the registry's outcome."""
        c = ComparisonOut.of(o.comparison)
        return cls(version=o.version, activated=o.activated, state=o.state, held_out=c.new,
                   active_held_out=c.active, reason=o.comparison.reason)  # fmt: skip


class TrainIn(BaseModel):
    """Body of `POST /api/verifier/train` (optional)."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"activate": "review"}]}
    )

    activate: Literal["if_not_worse", "review"] = Field(
        default="if_not_worse",
        description="if_not_worse: activate unless it scores worse than the active model; "
        "review: keep it as a candidate, scored, for a reviewer to activate",
    )


_DEFAULT_TRAIN = TrainIn()  # no body: activate unless worse, as before the option existed


class ActivateIn(BaseModel):
    """Body of `POST /api/verifier/activate`."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"version": "v0002"}]}
    )

    version: str = Field(pattern=r"^v\d{4,9}$")
    force: bool = Field(default=False, description="activate even if it scores worse")


@router.get("")
async def verifier_status(_: Reviewer, site: SiteDep, samples: SamplesDep) -> VerifierOut:
    """The active version, every version with its held-out score and training counts, and how
    many labels the site has."""
    try:
        active = await asyncio.to_thread(site.active_version)
        versions = await asyncio.to_thread(site.versions)
    except SiteVerifierError as exc:
        raise HTTPException(503, str(exc)) from None
    counts = await samples.counts()
    return VerifierOut(active=active, live=site.live, versions=[VersionOut.of(v) for v in versions],
                       labels=counts.by_label, problem=site.problem)  # fmt: skip


@router.post(
    "/train",
    status_code=201,
    responses={
        **error(409, "a training is already running"),
        **error(422, "too few labels, or only one label, to learn from"),
    },
)
async def train_verifier(
    user: Reviewer,
    hub: HubDep,
    site: SiteDep,
    samples: SamplesDep,
    trail: AuditDep,
    body: TrainIn = _DEFAULT_TRAIN,
) -> OutcomeOut:
    """Train a new version from the site's labels. By default it is activated unless it scores
    worse than the active one on the same held-out labels (then it is kept, and the reason says
    why); with `"activate": "review"` it waits as a candidate, with both scores, for a reviewer
    to activate it (`POST /api/verifier/activate`)."""
    width, height = hub.analysis_wh
    at_once = body.activate == "if_not_worse"
    boxes = await asyncio.to_thread(labelled_boxes, samples.root)
    try:
        outcome = await asyncio.to_thread(site.train, boxes, (height, width), at_once)
    except TrainingBusy as exc:
        raise HTTPException(409, str(exc)) from None
    except NotEnoughLabels as exc:
        raise HTTPException(422, f"cannot train: {exc}") from None
    result = OutcomeOut.of(outcome)
    detail = {"labels": len(boxes), "state": outcome.state, "reason": result.reason}
    await trail.record("verifier.train", f"verifier:{outcome.version}", detail)
    log.info("verifier: %s trained by %s: %s", outcome.version, user.username, result.reason)
    return result


@router.post(
    "/activate",
    responses={
        **error(404, "no such version"),
        **error(409, "it scores worse than the active one (send force to override)"),
        **error(422, "a bad version name"),
    },
)
async def activate_verifier(
    _: Reviewer, site: SiteDep, trail: AuditDep, body: ActivateIn
) -> OutcomeOut:
    """Make a stored version active (swapped into the running hub at its next tick)."""
    try:
        outcome = await asyncio.to_thread(site.activate, body.version, body.force)
    except UnknownVersion as exc:
        raise HTTPException(404, str(exc)) from None
    except WorseModel as exc:
        raise HTTPException(409, str(exc)) from None
    except VerifierLoadError as exc:
        raise HTTPException(422, f"cannot load {body.version}: {exc}") from None
    result = OutcomeOut.of(outcome)
    detail = {"force": body.force, "reason": result.reason}
    await trail.record("verifier.activate", f"verifier:{outcome.version}", detail)
    return result
