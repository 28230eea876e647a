"""Live view: WebRTC offers answered with the camera's H.264 (no re-encoding), JPEG snapshots
of the newest keyframe for tiles, and viewer figures."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Literal

import httpx
from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from api.hubview import HubView, UnknownCamera
from api.live import (
    BadOffer,
    LiveService,
    NoPicture,
    NotForwardable,
    SetupTimeout,
    ViewerLimit,
)
from api.security.deps import AUTH_RESPONSES, Operator

router = APIRouter(prefix="/api/live", tags=["live"], responses=AUTH_RESPONSES)

_SDP_EXAMPLE = (
    "v=0\r\no=- 4611 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 102\r\n..."
)


def get_live(request: Request) -> LiveService:
    """The live service the lifespan made (`request.state.live`)."""
    live: LiveService = request.state.live
    return live


LiveDep = Annotated[LiveService, Depends(get_live)]


def get_elsewhere(request: Request) -> Callable[[str], str | None]:
    """Where another hub of a cluster runs a camera (`HubView.elsewhere`); a live service
    served without a hub (its own tests) has no cluster."""
    hub: HubView | None = getattr(request.state, "hub", None)
    return hub.elsewhere if hub is not None else lambda _camera_id: None


ElsewhereDep = Annotated[Callable[[str], str | None], Depends(get_elsewhere)]


class OfferIn(BaseModel):
    """A browser's SDP offer (it adds a recvonly video transceiver)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"sdp": _SDP_EXAMPLE, "type": "offer"}]},
    )

    sdp: str = Field(min_length=1, max_length=64_000, examples=[_SDP_EXAMPLE])
    type: Literal["offer"]


class AnswerOut(BaseModel):
    """The hub's SDP answer: one H.264 video track, the camera's own bitstream."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"sdp": _SDP_EXAMPLE, "type": "answer"}]}
    )

    sdp: str = Field(examples=[_SDP_EXAMPLE])
    type: Literal["answer"] = "answer"
    stream: Literal["main", "sub"] = Field(
        default="sub", description="main, or the analysed stream (the sub-stream if any)"
    )
    note: str = Field(default="", description="why the main stream asked for is not sent")


class LiveViewerOut(BaseModel):
    """One viewer of a camera's relay."""

    sent_packets: int
    dropped_packets: int


class LiveCameraOut(BaseModel):
    """One camera being watched: its viewers and its relay's figures."""

    viewers: int = Field(examples=[2])
    forwarded_packets: int
    missed_packets: int = Field(description="evicted from the ring before the relay read them")
    tracks: list[LiveViewerOut]


class LiveStatsOut(BaseModel):
    """Viewers per camera and in total, with the caps in force."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "total_viewers": 1,
                    "max_viewers_total": 64,
                    "max_viewers_per_camera": 8,
                    "relays_started": 1,
                    "cameras": {
                        "jinsha-001": {
                            "viewers": 1,
                            "forwarded_packets": 1520,
                            "missed_packets": 0,
                            "tracks": [{"sent_packets": 1490, "dropped_packets": 0}],
                        }
                    },
                }
            ]
        }
    )

    total_viewers: int = Field(examples=[3])
    max_viewers_total: int
    max_viewers_per_camera: int
    relays_started: int
    cameras: dict[str, LiveCameraOut]


StreamQuery = Annotated[
    Literal["main", "sub"],
    Query(description="main: the main stream where it is recorded; sub: the analysed stream"),
]


def _not_found(camera_id: str) -> HTTPException:
    return HTTPException(404, f"no camera with id {camera_id[:64]!r}")


_PASSED_ON = 15.0  # seconds the hub that runs the camera has to answer


async def _pass_on(target: str, request: Request, body: bytes | None) -> Response:
    """Pass a live-view request to the hub that runs the camera (a cluster): the same
    path, query and token (sessions live in the shared database), its answer returned as it
    is. The browser's media then flows from that hub."""
    url = f"{target}{request.url.path}"
    headers = {"Authorization": request.headers.get("authorization", "")}
    if body is not None:
        headers["Content-Type"] = "application/json"
    try:
        async with httpx.AsyncClient(timeout=_PASSED_ON) as client:
            reply = await client.request(
                request.method, url, params=request.query_params, content=body, headers=headers
            )
    except httpx.HTTPError as exc:
        raise HTTPException(
            503,
            f"the hub that runs this camera does not answer ({type(exc).__name__})",
            headers={"Retry-After": "5"},
        ) from None
    kept = {k: v for k, v in reply.headers.items() if k.lower() in ("content-type", "retry-after")}
    return Response(reply.content, status_code=reply.status_code, headers=kept)


@router.post(
    "/{camera_id}/offer",
    response_model=AnswerOut,  # also when another hub's answer is passed on as it is
    responses={
        404: {"description": "no such camera"},
        409: {"description": "the camera's codec cannot be forwarded"},
        422: {"description": "the SDP offer is malformed or cannot receive H.264"},
        503: {"description": "viewer cap reached, or the connection could not be set up"},
    },
)
async def offer(
    camera_id: str,
    body: OfferIn,
    _: Operator,
    live: LiveDep,
    elsewhere: ElsewhereDep,
    request: Request,
    stream: StreamQuery = "sub",
) -> AnswerOut | Response:
    """Answer a WebRTC offer with the camera's live H.264, forwarded without re-encoding: the
    analysed stream, or with `stream=main` the main stream when it is H.264 and recorded (the
    answer's `stream` and `note` say which was sent and why). In a cluster, an offer for a
    camera another hub runs is passed to that hub, and its answer returned."""
    target = elsewhere(camera_id)
    if target is not None:
        return await _pass_on(target, request, body.model_dump_json().encode())
    try:
        viewer = await live.answer(camera_id, body.sdp, main=stream == "main")
    except UnknownCamera:
        raise _not_found(camera_id) from None
    except BadOffer as exc:
        raise HTTPException(422, str(exc)) from None
    except NotForwardable as exc:
        raise HTTPException(409, str(exc)) from None
    except (ViewerLimit, SetupTimeout) as exc:
        raise HTTPException(503, str(exc), headers={"Retry-After": "5"}) from None
    return AnswerOut(sdp=viewer.sdp, stream="main" if viewer.stream == "main" else "sub",
                     note=viewer.note)  # fmt: skip


@router.get(
    "/{camera_id}/snapshot.jpg",
    response_class=Response,
    responses={
        200: {
            "content": {"image/jpeg": {"example": "(JPEG bytes)"}},
            "description": "the newest keyframe",
        },
        404: {"description": "no such camera"},
        503: {"description": "no keyframe yet"},
    },
)
async def snapshot(
    camera_id: str,
    _: Operator,
    live: LiveDep,
    elsewhere: ElsewhereDep,
    request: Request,
    stream: StreamQuery = "sub",
) -> Response:
    """The camera's newest keyframe as JPEG at the camera's resolution (tile fallback); with
    `stream=main`, the main stream's while it is recorded (any codec: decoded here). In a
    cluster, from the hub that runs the camera."""
    target = elsewhere(camera_id)
    if target is not None:
        return await _pass_on(target, request, None)
    try:
        jpeg = await live.snapshots.jpeg(camera_id, main=stream == "main")
    except UnknownCamera:
        raise _not_found(camera_id) from None
    except NoPicture as exc:
        raise HTTPException(503, str(exc), headers={"Retry-After": "1"}) from None
    return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "no-store"})


@router.get("/stats")
async def stats(_: Operator, live: LiveDep) -> LiveStatsOut:
    """Viewers per camera, relay figures and the caps."""
    figures = live.stats()
    cameras = {
        relay.camera_id: LiveCameraOut(
            viewers=figures.viewers.get(relay.camera_id, 0),
            forwarded_packets=relay.forwarded,
            missed_packets=relay.missed,
            tracks=[
                LiveViewerOut(sent_packets=v.sent, dropped_packets=v.dropped) for v in relay.viewers
            ],
        )
        for relay in figures.relays
    }
    return LiveStatsOut(
        total_viewers=figures.total_viewers,
        max_viewers_total=live.limits.max_viewers_total,
        max_viewers_per_camera=live.limits.max_viewers_per_camera,
        relays_started=figures.relays_started,
        cameras=cameras,
    )
