"""Signed evidence links (`riverwatch/share.py`): an incident's snapshot or clip for whoever
holds the link a chat robot posted, without signing in, until it expires. The signature is the
credential; a wrong or expired one is a 403 that says which."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query
from fastapi.responses import FileResponse

from alerts.evidence import ObjectStoreError
from api.deps import HubDep

log = logging.getLogger(__name__)
router = APIRouter(tags=["share"])

_ERR = {"application/json": {"example": {"detail": "the link has expired"}}}
_TYPES = {"snapshot": "image/jpeg", "clip": "video/mp4"}


@router.get(
    "/share/{alert_id}/{kind}",
    summary="An incident's snapshot or clip through a signed link",
    responses={
        200: {
            "description": "the file",
            "content": {"image/jpeg": {"example": "(JPEG bytes)"}, "video/mp4": {}},
        },
        403: {"description": "the signature does not match, or the link expired", "content": _ERR},
        404: {
            "description": "no ticket for the incident, or no such evidence yet",
            "content": _ERR,
        },
        503: {"description": "the shared evidence store does not answer", "content": _ERR},
    },  # fmt: skip
    response_class=FileResponse,
)
async def shared_evidence(
    hub: HubDep,
    alert_id: Annotated[str, Path(pattern=r"^[A-Za-z0-9:_.-]{1,128}$")],
    kind: Annotated[str, Path(max_length=16)],
    exp: Annotated[int, Query(ge=0, le=2**40)],
    sig: Annotated[str, Query(pattern=r"^[0-9a-f]{64}$")],
) -> FileResponse:
    """The file, if the link's signature holds and it has not expired."""
    problem = hub.share_links().check(alert_id, kind, exp, sig)
    if problem:
        raise HTTPException(403, problem)
    ticket = await hub.tickets().get_by_alert(alert_id)
    relative = "" if ticket is None else (ticket.snapshot if kind == "snapshot" else ticket.clip)
    try:
        path = await hub.stored_file(relative) if relative else None
    except ObjectStoreError as exc:
        log.warning("share %s %s: %s", alert_id, kind, exc)
        raise HTTPException(503, "the shared evidence store does not answer now") from None
    if path is None:
        raise HTTPException(404, f"no {kind} for this incident yet")
    return FileResponse(
        path, media_type=_TYPES[kind], headers={"Cache-Control": "private, max-age=300"}
    )
