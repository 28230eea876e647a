"""An incident's verdict as samples: the box drawn on its evidence snapshot, in the snapshot's
pixels, labelled `boat` when the reviewer confirmed the incident, `not_boat` for a false alarm.

Which box: the snapshot is the keyframe nearest the incident's `open` message, drawn with that
message's box. The ticket keeps the newest observation's box, so the open's box is taken from
the stored track: its newest point at or before the ticket was created (the open message
created it, and could not carry later points). Without a track, the ticket's box is used.
Boxes are in analysis pixels and are scaled to the snapshot, as the evidence renderer does.
"""

from __future__ import annotations

from collections.abc import Sequence

from alerts.labels.store import Box, Draft, Image, Label, Source
from alerts.tickets import Ticket, TrackPoint, Verdict

VERDICT_LABELS = {Verdict.CONFIRMED: Label.BOAT, Verdict.FALSE_ALARM: Label.NOT_BOAT}


def opening_box(ticket: Ticket, track: Sequence[TrackPoint]) -> Box:
    """The incident's box when its snapshot was taken, in analysis pixels."""
    before = [p for p in track if p.at <= ticket.created_at]
    if before:
        return max(before, key=lambda p: p.at).box_xyxy
    return ticket.box_xyxy


def to_image(box: Box, analysis_wh: tuple[int, int], image_wh: tuple[int, int]) -> Box:
    """An analysis-frame box in the pixels of a `image_wh` picture, clamped inside it."""
    sx, sy = image_wh[0] / analysis_wh[0], image_wh[1] / analysis_wh[1]
    x0, y0, x1, y1 = box

    def clamp(value: float, limit: int) -> int:
        return min(max(round(value), 0), limit)

    return (
        clamp(x0 * sx, image_wh[0]),
        clamp(y0 * sy, image_wh[1]),
        clamp(x1 * sx, image_wh[0]),
        clamp(y1 * sy, image_wh[1]),
    )


def detected_boxes(
    ticket: Ticket, track: Sequence[TrackPoint], analysis_wh: tuple[int, int], image: Image
) -> list[Box]:
    """The detected boxes on the incident's snapshot, in its pixels (none if one collapses
    to nothing at the image's edge)."""
    box = to_image(opening_box(ticket, track), analysis_wh, image.wh)
    return [box] if box[0] < box[2] and box[1] < box[3] else []


def verdict_drafts(
    ticket: Ticket,
    track: Sequence[TrackPoint],
    verdict: Verdict,
    analysis_wh: tuple[int, int],
    image: Image,
    user: str,
) -> list[Draft]:
    """The samples a verdict makes of the incident's snapshot."""
    label = VERDICT_LABELS[Verdict(verdict)]
    return [
        Draft(
            ticket.camera_id, image, box, label, Source.VERDICT, user, ticket.id, ticket.alert_id
        )  # fmt: skip
        for box in detected_boxes(ticket, track, analysis_wh, image)
    ]
