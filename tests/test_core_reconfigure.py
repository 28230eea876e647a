"""Changing the detection core's cameras while it runs: zones swapped in at the next step, a
camera added into a spare row or removed, and only what changed starting again.

Scenes are the simulator's rendered boat crossings in memory, at two observations a second.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from detectors import CameraSetup, DetectionCore, Event, Phase
from detectors.background import BackgroundParams
from riverwatch.batch import BatchView
from riverwatch.config import AnalysisConfig, TripwireConfig
from riverwatch.types import Severity
from tests.test_detect_core import FPS, RIVER, SHAPE, Frame, scene

WIRE = TripwireConfig(id="gate", line=[(0.5, 0.05), (0.5, 0.95)])


class Feed:
    """A core and the view it reads, fed one observation per camera per step."""

    def __init__(self, setups: Sequence[CameraSetup], spare: int = 0) -> None:
        self.core = DetectionCore(
            setups, SHAPE, full_rate_budget=0, background=BackgroundParams(learn_s=0), spare=spare
        )
        self.view = BatchView.empty(len(setups) + spare, SHAPE)
        self.t = 0

    def run(self, frames: dict[int, list[Frame]], steps: int) -> list[Event]:
        events: list[Event] = []
        for _ in range(steps):
            now = self.t / FPS
            self.view.fresh_n[:] = False
            for slot, clip in frames.items():
                frame = clip[self.t % len(clip)]
                self.view.frames_nhw[slot], self.view.chroma_n2hw[slot] = frame.luma, frame.chroma
                self.view.seq_n[slot] += 1
                self.view.ts_n[slot] = now
                self.view.fresh_n[slot] = True
            events += self.core.step(self.view, now).events
            self.t += 1
        return events


def _starts(events: list[Event], camera: str, rule: str = "vessel_in_zone") -> list[Event]:
    return [
        e for e in events if e.phase is Phase.START and e.camera_id == camera and e.rule == rule
    ]


def test_a_zone_drawn_on_a_running_camera_raises_alerts_at_the_next_boat_without_relearning() -> (
    None
):
    boat = scene("river_boat_crossing")
    feed = Feed(
        [CameraSetup("cam0", AnalysisConfig(), []), CameraSetup("cam1", AnalysisConfig(), [RIVER])]
    )
    before = feed.run({0: boat, 1: boat}, len(boat))
    assert not _starts(before, "cam0"), "a camera with no zone raised an alert"
    assert _starts(before, "cam1")
    learned = feed.core.background._learns_n.copy()

    feed.core.reconfigure({0: CameraSetup("cam0", AnalysisConfig(), [RIVER], [WIRE])})
    after = feed.run({0: boat, 1: boat}, len(boat))

    assert _starts(after, "cam0"), "the zone drawn while running raised nothing"
    assert _starts(after, "cam0", "line_crossing"), (
        "the tripwire drawn while running counted nothing"
    )
    # Neither camera learned its water again: the learning counters only went up.
    assert (feed.core.background._learns_n >= learned).all()
    assert feed.core.background._learns_n[0] > 0 and learned[0] > 0


def test_an_unchanged_cameras_open_event_is_not_touched_by_anothers_change() -> None:
    boat = scene("river_boat_crossing")
    feed = Feed(
        [
            CameraSetup("cam0", AnalysisConfig(), [RIVER]),
            CameraSetup("cam1", AnalysisConfig(), [RIVER]),
        ]
    )
    events: list[Event] = []
    for _ in range(2 * len(boat)):  # step until cam1 has an event open
        events += feed.run({0: boat, 1: boat}, 1)
        if feed.core.rules.open_slots() >= {0, 1}:
            break
    assert feed.core.rules.open_slots() >= {0, 1}, "no event was open on both cameras"
    open_before = dict(feed.core.rules._open)

    street = RIVER.model_copy(update={"severity": Severity.LOW})
    feed.core.reconfigure({0: CameraSetup("cam0", AnalysisConfig(), [street])})
    changed = feed.run({0: boat, 1: boat}, 1)

    ends = [e for e in changed if e.phase is Phase.END]
    assert ends and {e.camera_id for e in ends} == {"cam0"}, ends  # its zone changed
    carried = [
        s for (_, z, _), s in feed.core.rules._open.items() if feed.core.rules._zones[z].slot == 1
    ]
    assert carried and all(any(s is o for o in open_before.values()) for s in carried)


def test_a_camera_added_into_a_spare_row_learns_and_alerts_and_a_removed_one_ends_its_events() -> (
    None
):
    boat = scene("river_boat_crossing")
    feed = Feed([CameraSetup("cam0", AnalysisConfig(), [RIVER])], spare=2)
    feed.run({0: boat}, len(boat) // 2)
    feed.core.reconfigure({2: CameraSetup("new", AnalysisConfig(), [RIVER])})
    added = feed.run({0: boat, 2: boat}, 2 * len(boat))
    assert _starts(added, "new"), "the camera added while running never alerted"

    while 2 not in feed.core.rules.open_slots():
        feed.run({0: boat, 2: boat}, 1)
    feed.core.reconfigure({2: None})
    gone = feed.run({0: boat}, 1)
    assert [e.phase for e in gone if e.camera_id == "new"] and all(
        e.phase is Phase.END for e in gone if e.camera_id == "new"
    )
    assert not feed.core.setups[2].camera_id  # the row is free again
    quiet = feed.run({0: boat, 2: boat}, len(boat))  # frames on a free row are not analysed
    assert not [e for e in quiet if e.camera_id == "new"]


def test_new_analysis_settings_relearn_that_camera_only() -> None:
    boat = scene("river_boat_crossing")
    feed = Feed(
        [
            CameraSetup("cam0", AnalysisConfig(), [RIVER]),
            CameraSetup("cam1", AnalysisConfig(), [RIVER]),
        ]
    )
    feed.run({0: boat, 1: boat}, 20)
    learned = feed.core.background._learns_n.copy()
    assert (learned > 0).all()

    feed.core.reconfigure({1: CameraSetup("cam1", AnalysisConfig(sensitivity=4.0), [RIVER])})
    feed.run({0: boat, 1: boat}, 1)

    counts = feed.core.background._learns_n
    assert counts[0] >= learned[0] and counts[1] <= 1, counts
    assert feed.core.background._sens_n[1] == 4.0
    # How often it is decoded changes nothing it learned.
    again = counts.copy()
    feed.core.reconfigure({0: CameraSetup("cam0", AnalysisConfig(detect_fps=2.0), [RIVER])})
    feed.run({0: boat, 1: boat}, 1)
    assert feed.core.background._learns_n[0] >= again[0]
    assert np.isfinite(feed.core._seen_at_n[0])
