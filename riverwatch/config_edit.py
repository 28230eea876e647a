"""Changes to the configuration made in the browser, as pure operations on its YAML document.

A version of the configuration is its YAML text (placeholders such as `${JINSHA_PASS}` kept:
secrets never enter it from the page) and a stamp per camera and for the groups: the version
that last changed it, who, and when. An admin's change names the stamp it was made from; when
another admin changed that camera since, it is refused with who and when (a change to another
camera in between is no conflict).

    doc = document(version_text)
    doc = apply_change(doc, stamps, CameraChange("put", "jinsha-001", payload, expected=9))
    text = dump(doc)     # then validated by `parse_config`, the rules `check-config` uses

A camera's stream URL comes back to the page redacted (`redact_url`); sent back unchanged it
means "keep the stored one", so a password typed once is never shown again.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import yaml
from pydantic import ValidationError

from riverwatch.config import AnalysisConfig, CameraConfig
from riverwatch.secrets import redact_url

GROUPS = ""  # the stamp key of the groups list (camera ids cannot be empty)
_URLS = ("url", "sub_url")
_PROBLEM = re.compile(
    r"^(?:camera '(?P<id>[^']*)'(?: \(cameras\[\d+\]\))?|cameras\[(?P<index>\d+)\]): "
    r"(?P<path>[^:]+): (?P<msg>.*)$",
    re.DOTALL,
)
_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")

Loc = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Stamp:
    """Which version last changed a camera (or the groups), by whom and when."""

    version: int
    by: str
    at: float


@dataclass(frozen=True, slots=True)
class CameraChange:
    """One admin's change: add, replace or delete a camera, or replace the groups.

    `expected` is the stamp's version the change was made from (None for an add).
    """

    action: Literal["add", "put", "delete", "groups"]
    camera_id: str = ""
    payload: Any = None  # the camera (a mapping) or the groups (a list)
    expected: int | None = None


class EditConflict(Exception):
    """The camera (or the groups) changed since the admin's copy; the message says by whom."""


class UnknownTarget(KeyError):
    """The change names a camera the configuration does not have."""


class NoRoom(Exception):
    """The running hub has no spare row for another camera until it restarts."""


class EditRefused(Exception):
    """A change the configuration rules refuse; `fields` places each problem at its field
    (a path inside the camera), `problems` are the lines `check-config` would print."""

    def __init__(
        self, problems: Sequence[str], fields: Sequence[tuple[Loc, str]], target: str = "camera"
    ) -> None:
        self.problems = list(problems)
        self.fields = list(fields)
        self.target = target  # "camera": paths inside the camera; "groups": from `groups`
        super().__init__("; ".join(self.problems))


def document(text: str) -> dict[str, Any]:
    """The YAML text as a mapping (an empty one for empty text)."""
    raw = yaml.safe_load(text) if text.strip() else {}
    return raw if isinstance(raw, dict) else {}


def dump(doc: Mapping[str, Any]) -> str:
    """The mapping as YAML, keys in their order."""
    return yaml.safe_dump(dict(doc), sort_keys=False, allow_unicode=True, width=100)


def cameras_of(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The document's camera mappings."""
    cameras = doc.get("cameras")
    return [c for c in cameras if isinstance(c, dict)] if isinstance(cameras, list) else []


def restamp(
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any],
    stamps: Mapping[str, Stamp],
    stamp: Stamp,
) -> dict[str, Stamp]:
    """The stamps of `after`: what differs from `before` gets `stamp`, the rest keeps its own."""
    old = {c.get("id"): _same(c) for c in cameras_of(before or {})}
    out: dict[str, Stamp] = {}
    for cam in cameras_of(after):
        cam_id = str(cam.get("id"))
        kept = stamps.get(cam_id)
        out[cam_id] = kept if kept is not None and old.get(cam_id) == _same(cam) else stamp
    groups_kept = stamps.get(GROUPS)
    same_groups = before is not None and _same(before.get("groups")) == _same(after.get("groups"))
    out[GROUPS] = groups_kept if groups_kept is not None and same_groups else stamp
    return out


def apply_change(
    doc: Mapping[str, Any], stamps: Mapping[str, Stamp], change: CameraChange
) -> dict[str, Any]:
    """The document with the change made; raises `EditConflict` or `UnknownTarget`."""
    out = dict(doc)
    cameras = list(cameras_of(doc))
    ids = [str(c.get("id")) for c in cameras]
    key = GROUPS if change.action == "groups" else change.camera_id
    if change.action == "add":
        if change.camera_id in ids:
            raise EditConflict(f"camera {change.camera_id!r} exists already")
    elif change.action != "groups" and change.camera_id not in ids:
        raise UnknownTarget(change.camera_id)
    else:
        _check_stamp(key, stamps.get(key), change.expected)
    if change.action == "groups":
        out["groups"] = list(change.payload)
        return out
    if change.action == "delete":
        out["cameras"] = [c for c in cameras if c.get("id") != change.camera_id]
        return out
    stored = cameras[ids.index(change.camera_id)] if change.action == "put" else {}
    payload = {**dict(change.payload), "id": change.camera_id}  # an id is never renamed
    camera = tidy_camera(_keep_urls(payload, stored), doc.get("defaults"))
    if change.action == "put":
        cameras[ids.index(change.camera_id)] = camera
    else:
        cameras.append(camera)
    out["cameras"] = cameras
    return out


def _check_stamp(key: str, stamp: Stamp | None, expected: int | None) -> None:
    if stamp is None or expected is None or stamp.version == expected:
        return
    what = "the groups were" if key == GROUPS else f"camera {key!r} was"
    raise EditConflict(
        f"{what} changed by {stamp.by} (version {stamp.version}) after you opened version "
        f"{expected}; reload to see that change, then make yours again"
    )


def _keep_urls(payload: dict[str, Any], stored: Mapping[str, Any]) -> dict[str, Any]:
    """A URL sent back as it was shown (redacted) keeps the stored one."""
    for name in _URLS:
        old = stored.get(name)
        if isinstance(old, str) and payload.get(name) == redact_url(old):
            payload[name] = old
    return payload


def tidy_camera(payload: dict[str, Any], defaults: object) -> dict[str, Any]:
    """The camera as the YAML keeps it: only what differs from the defaults (a later change
    of `defaults:` still reaches it); an invalid one is kept as sent, for the rules to name
    its problems."""
    base = AnalysisConfig.model_validate(defaults if isinstance(defaults, dict) else {})
    analysis = payload.get("analysis")
    try:
        merged = {**payload, "analysis": {**base.model_dump(), **(analysis or {})}}
        camera = CameraConfig.model_validate(merged)
    except (ValidationError, TypeError):
        return payload
    out = camera.model_dump(mode="json", exclude_defaults=True, exclude={"analysis"})
    full = camera.analysis.model_dump(mode="json")
    usual = base.model_dump(mode="json")
    own = {k: v for k, v in full.items() if v != usual[k]}
    if own:
        out["analysis"] = own
    return out


def shown_camera(camera: CameraConfig) -> dict[str, Any]:
    """A camera as the page gets it: every field, its URLs redacted."""
    out = camera.model_dump(mode="json")
    for name in _URLS:
        if isinstance(out.get(name), str):
            out[name] = redact_url(out[name])
    return out


def field_problems(problems: Sequence[str], camera_id: str, index: int) -> list[tuple[Loc, str]]:
    """The problems of one camera (by id, or by its place in the list) at their fields, as
    paths inside the camera; the others at the top (an empty path)."""
    out: list[tuple[Loc, str]] = []
    for line in problems:
        found = _PROBLEM.match(line)
        mine = found is not None and (
            found["id"] == camera_id
            or (found["index"] is not None and int(found["index"]) == index)
        )
        if found is None or not mine:
            out.append(((), line))
            continue
        loc: Loc = tuple(
            int(num) if num else name for name, num in _PART.findall(found["path"].strip())
        )
        out.append((loc, found["msg"]))
    return out


def group_problems(problems: Sequence[str]) -> list[tuple[Loc, str]]:
    """The problems of the groups list at their fields (`groups`, index, field); the others
    (a camera whose group is no longer declared) at the top."""
    out: list[tuple[Loc, str]] = []
    for line in problems:
        path, sep, msg = line.partition(": ")
        if sep and path.startswith("groups"):
            loc: Loc = tuple(int(num) if num else name for name, num in _PART.findall(path))
            out.append((loc, msg))
        else:
            out.append(((), line))
    return out


def _same(value: object) -> str:
    return json.dumps(value, sort_keys=True, default=str)


@dataclass(frozen=True, slots=True)
class Applied:
    """What a version changed on a running hub: cameras added, removed, restarted (their
    stream changed), re-zoned (zones, tripwires or analysis: swapped in at the next tick)."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    restarted: tuple[str, ...] = ()
    rezoned: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ConfigVersion:
    """A stored version: its number, YAML text, who made it and when, and its stamps; for one
    imported from a file (and the browser's versions after it), that file's SHA-256."""

    number: int
    text: str
    author: str
    note: str
    created_at: float
    file_sha256: str | None
    stamps: Mapping[str, Stamp]
