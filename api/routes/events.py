"""Live alerts for the video wall as server-sent events.

    event: alert
    id: <message_id>
    data: {...Alert.to_fields(), "box": [x1, y1, x2, y2], "analysis_wh": [w, h]}

Every message the hub publishes (open, update, evidence, close) from the moment the page
connects; the box is in analysis pixels of a `analysis_wh` frame, so a page scales it to the
tile. A comment line (`: keep-alive`) goes out when nothing else has for `KEEPALIVE_S`, so
proxies keep the connection and a dead client is noticed. Each page has its own bounded queue
in the feed (a slow page loses its oldest messages, counted in the feed); at most the feed's
subscriber limit of pages at once (503 beyond). When the client goes, the response task is
cancelled and the subscription ends with it.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Annotated, Protocol, runtime_checkable

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import StreamingResponse

from alerts.feed import AlertFeed
from api.deps import HubDep
from api.security.deps import AUTH_RESPONSES, EventListener
from riverwatch.types import Alert

router = APIRouter(prefix="/api", tags=["events"], responses=AUTH_RESPONSES)

KEEPALIVE_S = 15.0
# A stream ends after this long and the page reconnects by itself (after `retry`): the
# reconnect checks the caller's token again, so a stream never outlives its sign-in by more.
MAX_STREAM_S = 3600.0
KEEPALIVE = b": keep-alive\n\n"


@runtime_checkable
class FramedHub(Protocol):
    """A hub that says the size of the frames its boxes are drawn in."""

    @property
    def analysis_wh(self) -> tuple[int, int]:
        """(width, height) of the analysis frames."""
        ...


def frame_size(hub: object) -> tuple[int, int] | None:
    """(width, height) of the frames the hub's boxes are in, if the hub says."""
    return hub.analysis_wh if isinstance(hub, FramedHub) else None


def get_analysis_wh(hub: HubDep) -> tuple[int, int]:
    """The analysis frame size the alert boxes refer to (503 if the hub cannot say: a box
    without its frame would be drawn in the wrong place)."""
    wh = frame_size(hub)
    if wh is None:
        raise HTTPException(503, "the hub does not report its analysis frame size")
    return wh


def get_keepalive_s() -> float:
    """Seconds of silence before a keep-alive comment (tests shorten it)."""
    return KEEPALIVE_S


def alert_event(message: Alert, analysis_wh: tuple[int, int]) -> bytes:
    """One `alert` event in the wire format of the contract."""
    data: dict[str, object] = dict(message.to_fields())
    data["box"] = list(message.box_xyxy)
    data["analysis_wh"] = list(analysis_wh)
    # The message id contains no newline (ids are generated), so it is safe on the id line.
    text = f"event: alert\nid: {message.message_id}\ndata: {json.dumps(data)}\n\n"
    return text.encode()


async def _stream(
    feed: AlertFeed, analysis_wh: tuple[int, int], keepalive_s: float
) -> AsyncIterator[bytes]:
    # No disconnect polling here: the server cancels this generator when the client goes
    # (ASGI < 2.4), or the next write fails (2.4), which the keep-alive bounds to one period.
    try:
        async with feed.subscribe() as queue:
            yield b"retry: 3000\n\n"  # how soon EventSource reconnects
            deadline = time.monotonic() + MAX_STREAM_S
            while time.monotonic() < deadline:
                try:
                    message = await asyncio.wait_for(queue.get(), keepalive_s)
                except TimeoutError:
                    yield KEEPALIVE
                    continue
                yield alert_event(message, analysis_wh)
    except OverflowError:
        return  # filled up between the route's check and now: end at once, the page retries


@router.get(
    "/events",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {
                "text/event-stream": {
                    "example": 'event: alert\nid: 3f9c…:open:0\ndata: {"alert_id": "3f9c…", '
                    '"phase": "open", "camera_id": "jinsha-001", "box": [40, 60, 88, 92], '
                    '"analysis_wh": [320, 180]}\n\n'
                }
            },
            "description": "alert events",
        },
        503: {"description": "too many live pages, or the hub cannot say its frame size"},
    },
)
async def events(
    _: EventListener,
    hub: HubDep,
    analysis_wh: Annotated[tuple[int, int], Depends(get_analysis_wh)],
    keepalive_s: Annotated[float, Depends(get_keepalive_s)],
) -> StreamingResponse:
    """Live alert messages as server-sent events (`event: alert`)."""
    feed = hub.feed
    try:  # a probe, so a full feed is a 503 rather than an empty stream
        async with feed.subscribe():
            pass
    except OverflowError:
        raise HTTPException(503, "too many live pages are connected; try again shortly") from None
    return StreamingResponse(
        _stream(feed, analysis_wh, keepalive_s),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
