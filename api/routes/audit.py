"""The audit log, read by reviewers and admins: who changed what and when, newest first."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, ConfigDict

from api.security.audit import AuditEntry, AuditQuery
from api.security.deps import AUTH_RESPONSES, Reviewer, SecurityDep

router = APIRouter(prefix="/api/audit", tags=["audit"], responses=AUTH_RESPONSES)


class AuditEntryOut(BaseModel):
    """One recorded change."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 41,
                    "at": 1767225912.5,
                    "username": "li.wei",
                    "role": "enforcement",
                    "action": "ticket.transition",
                    "target": "ticket:12",
                    "detail": {"from": "received", "to": "assigned", "photos": 0},
                    "client": "10.20.0.31",
                }  # fmt: skip
            ]
        }
    )

    id: int
    at: float
    username: str
    role: str
    action: str
    target: str
    detail: dict[str, Any]
    client: str

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditEntryOut:
        """From the log's entry."""
        return cls(id=entry.id, at=entry.at, username=entry.username, role=entry.role,
                   action=entry.action, target=entry.target, detail=entry.detail,
                   client=entry.client)  # fmt: skip


@router.get(
    "",
    summary="Read the audit log",
    responses={422: {"description": "bad filter, or `until` before `since`"}},
)
async def list_entries(
    _: Reviewer,
    security: SecurityDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    username: Annotated[str | None, Query(max_length=64)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    target: Annotated[str | None, Query(max_length=200)] = None,
    since: Annotated[float | None, Query(ge=0, le=1e11, description="epoch s")] = None,
    until: Annotated[float | None, Query(ge=0, le=1e11, description="epoch s")] = None,
) -> list[AuditEntryOut]:
    """Entries newest first, filtered by user, action, target and period."""
    if since is not None and until is not None and until <= since:
        raise HTTPException(422, "`until` must be after `since`")
    query = AuditQuery(limit, username, action, target, since, until)
    return [AuditEntryOut.of(e) for e in await security.audit.entries(query)]
