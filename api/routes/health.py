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


_READY = {
    "ready": True,
    "checks": {"redis": True, "detect": True, "tasks": True},
    "reasons": [],
    "detect": {"last_tick_age_s": 0.2, "tick_errors": 0, "errors_in_a_row": 0},
    "tasks": [{"name": "alerts:publisher", "state": "running", "restarts": 0, "last_error": None}],
}
_NOT_READY = {
    "ready": False,
    "checks": {"redis": True, "detect": False, "tasks": True},
    "reasons": ["detection: 3 ticks failed in a row (ValueError: ...)"],
    "detect": {"last_tick_age_s": 4.1, "tick_errors": 3, "errors_in_a_row": 3},
    "tasks": [],
}


@router.get(
    "/readyz",
    response_model=None,
    summary="Readiness",
    responses={
        200: {
            "description": "Redis answers, detection ticks, no task keeps crashing",
            "content": {"application/json": {"example": _READY}},
        },
        503: {
            "description": "something does not work; `reasons` says what",
            "content": {"application/json": {"example": _NOT_READY}},
        },
    },
)
async def readyz(hub: HubDep) -> JSONResponse:
    """Redis answers, the detection loop completes its ticks, and no supervised task keeps
    crashing (503 otherwise, with the reasons). Error texts carry no URL."""
    state = await hub.readiness()
    detect = state.detect
    body = {
        "ready": state.ready,
        "checks": state.checks,
        "reasons": list(state.reasons),
        "detect": {
            "last_tick_age_s": detect.last_tick_age_s,
            "tick_errors": detect.tick_errors,
            "errors_in_a_row": detect.errors_in_a_row,
        },
        "tasks": [
            {
                "name": t.name,
                "state": t.state.value,
                "restarts": t.restarts,
                "last_error": t.last_error,
            }
            for t in state.tasks
        ],
    }
    return JSONResponse(body, status_code=200 if state.ready else 503)
