"""Liveness and readiness (open: load balancers and probes carry no token)."""

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import HubDep

router = APIRouter(tags=["health"])


@router.get(
    "/healthz",
    summary="Liveness",
    responses={200: {"content": {"application/json": {"example": {"status": "ok"}}}}},
)
async def healthz() -> dict[str, str]:
    """The process answers."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    response_model=None,
    summary="Readiness",
    responses={
        200: {
            "description": "every dependency answers",
            "content": {
                "application/json": {"example": {"ready": True, "checks": {"redis": True}}}
            },
        },
        503: {
            "description": "a dependency does not answer",
            "content": {
                "application/json": {"example": {"ready": False, "checks": {"redis": False}}}
            },
        },
    },
)
async def readyz(hub: HubDep) -> JSONResponse:
    """Every dependency answers (503 otherwise)."""
    checks = await hub.ready()
    ok = all(checks.values())
    return JSONResponse({"ready": ok, "checks": checks}, status_code=200 if ok else 503)
