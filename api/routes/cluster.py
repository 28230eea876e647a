"""The hubs sharing the cameras, their load, and who holds each camera."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import HubDep
from api.security.deps import AUTH_RESPONSES, CameraReader

router = APIRouter(prefix="/api/cluster", tags=["cluster"], responses=AUTH_RESPONSES)

_EXAMPLE = {
    "enabled": True,
    "hub_id": "hub-a",
    "hubs": [
        {"hub_id": "hub-a", "capacity": None, "cameras": 84, "api": "http://10.0.0.5:8080"},
        {"hub_id": "hub-b", "capacity": 120, "cameras": 83, "api": "http://10.0.0.6:8080"},
    ],
    "cameras": {"jinsha-001": {"hub_id": "hub-b", "epoch": 7}, "jinsha-002": None},
    "unowned": 1,
    "gone": [{"hub_id": "hub-c", "since": 1767225600.0}],
}


@router.get(
    "",
    summary="Hubs and camera owners",
    responses={200: {"content": {"application/json": {"example": _EXAMPLE}}}},
)
async def cluster(hub: HubDep, _: CameraReader) -> dict[str, object]:
    """The live hubs (from their heartbeats), each with its declared capacity and the cameras
    it holds, and which hub holds each camera's lease at which fencing epoch (null: nobody,
    while it moves or when no hub has room); `gone` lists the hubs whose heartbeat stopped in
    the last ten minutes. A hub on its own answers `enabled: false`."""
    figures = await hub.cluster_figures()
    if figures is None:
        return {
            "enabled": False,
            "hub_id": None,
            "hubs": [],
            "cameras": {},
            "unowned": 0,
            "gone": [],
        }
    owners = {
        camera: None if holder is None else {"hub_id": holder[0], "epoch": holder[1]}
        for camera, holder in figures.owners.items()
    }
    return {
        "enabled": True,
        "hub_id": figures.hub_id,
        "hubs": [
            {"hub_id": h.hub_id, "capacity": h.capacity, "cameras": h.cameras, "api": h.api}
            for h in figures.hubs
        ],
        "cameras": owners,
        "unowned": sum(holder is None for holder in owners.values()),
        "gone": [{"hub_id": h, "since": t} for h, t in sorted(figures.gone.items())],
    }
