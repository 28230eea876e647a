"""A JPEG of the keyframe nearest an alert, at the camera's full resolution, with its boxes.

Pure and blocking: call it in a worker thread. Only the keyframe's own packets are decoded,
with a fresh decoder, so nothing here shares state with the camera's ingest decoder.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import av
import av.error
import cv2
import numpy as np
import numpy.typing as npt

from alerts.evidence.errors import MediaError, NoVideo
from riverwatch.ring import RingPacket, StreamInfo, keyframe_run

Box = tuple[int, int, int, int]
RED_BGR = (0, 0, 255)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """An encoded JPEG and what it shows: its size and when its keyframe arrived."""

    jpeg: bytes
    width: int
    height: int
    taken_at: float


def render_snapshot(
    packets: Sequence[RingPacket],
    stream: StreamInfo,
    at: float,
    boxes_xyxy: Sequence[Box],
    analysis_wh: tuple[int, int],
    quality: int = 85,
    colour_bgr: tuple[int, int, int] = RED_BGR,
) -> Snapshot:
    """Decode the keyframe nearest `at`, draw the boxes (given in analysis-frame pixels), encode.

    Raises `NoVideo` when the packets hold no keyframe, `MediaError` when it does not decode.
    """
    _, run = keyframe_run(packets, at)
    if not run:
        raise NoVideo("no keyframe in the ring")
    image_hwc = _decode(run, stream)
    draw_boxes(image_hwc, boxes_xyxy, analysis_wh, colour_bgr)
    ok, encoded = cv2.imencode(".jpg", image_hwc, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise MediaError("JPEG encoding failed")
    height, width = image_hwc.shape[:2]
    return Snapshot(encoded.tobytes(), width, height, run[0].received_at)


def draw_boxes(
    image_hwc: npt.NDArray[np.uint8],
    boxes_xyxy: Sequence[Box],
    analysis_wh: tuple[int, int],
    colour_bgr: tuple[int, int, int] = RED_BGR,
) -> None:
    """Draw analysis-frame boxes onto a full-resolution image, in place."""
    height, width = image_hwc.shape[:2]
    sx, sy = width / analysis_wh[0], height / analysis_wh[1]
    thickness = max(3, round(width / 240))  # visible on a phone at 1080p, solid after JPEG
    for x0, y0, x1, y1 in boxes_xyxy:
        top_left = (_clamp(x0 * sx, width), _clamp(y0 * sy, height))
        bottom_right = (_clamp(x1 * sx, width), _clamp(y1 * sy, height))
        cv2.rectangle(image_hwc, top_left, bottom_right, colour_bgr, thickness)


def _clamp(value: float, limit: int) -> int:
    return min(max(round(value), 0), limit - 1)


def _decode(run: Sequence[RingPacket], stream: StreamInfo) -> npt.NDArray[np.uint8]:
    try:
        codec: Any = av.CodecContext.create(stream.codec, "r")
        if stream.extradata:
            codec.extradata = stream.extradata
        codec.thread_count = 1  # one picture: threads would only add start-up cost
        frames = []
        for packet in run:
            frames.extend(codec.decode(av.Packet(packet.data)))
        frames.extend(codec.decode(None))  # drain: the decoder holds the picture back otherwise
    except (av.error.FFmpegError, ValueError) as exc:
        raise MediaError(f"the keyframe did not decode: {type(exc).__name__}") from exc
    if not frames:
        raise MediaError("the keyframe did not decode to a picture")
    image: npt.NDArray[np.uint8] = frames[0].to_ndarray(format="bgr24")
    return image
