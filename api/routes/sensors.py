"""Sensor readings: posting readings over HTTP, and reading a sensor's recent history.

`POST /api/sensors/readings` takes one reading or a JSON array of them, each
`{"sensor_id": "heng-turb-02", "value": 37.5, "unit": "NTU", "ts": 1767225600}` (payload rules
in `ingest.sensors.reading`). A batch is all or nothing: if any reading is refused, none is
stored and the 422 answer lists every problem by index, so a gateway can fix and resend it.
Sending a reading twice stores it once. A 2xx answer means the readings are stored and the
alerts they raised are in the alert spool on disk: a hub killed right after answering loses
none. If those alerts cannot be made durable the answer is 503 and nothing is stored.
Gateways sign in as users with the `sensor-gateway` role and send their token; each accepted
batch is audited (user, count, sensors).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict

from api.security.deps import AUTH_RESPONSES, AuditDep, Operator, SensorGateway
from ingest.sensors import (
    AlertsNotDurable,
    BatchRejected,
    Reading,
    ReadingRejected,
    RejectReason,
    SensorHub,
    SensorStoreError,
    parse_ts,
    reading_from_obj,
)

router = APIRouter(prefix="/api/sensors", tags=["sensors"], responses=AUTH_RESPONSES)

_DEFAULT_LOOKBACK_S = 3600.0


def get_sensor_hub(request: Request) -> SensorHub:
    """The sensor hub the lifespan started (tests swap it with `dependency_overrides`)."""
    sensors: SensorHub = request.state.sensors
    return sensors


SensorHubDep = Annotated[SensorHub, Depends(get_sensor_hub)]


class IngestOut(BaseModel):
    """How many readings were accepted (all of them: a batch is all or nothing)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"accepted": 12}]})

    accepted: int


class ReadingOut(BaseModel):
    """One stored reading, in the sensor's unit."""

    ts: float
    value: float


class ReadingsOut(BaseModel):
    """A sensor's readings, oldest first."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "sensor_id": "heng-turb-02",
                    "unit": "NTU",
                    "readings": [
                        {"ts": 1767225600.0, "value": 37.5},
                        {"ts": 1767225660.0, "value": 41.0},
                    ],
                }  # fmt: skip
            ]
        }
    )

    sensor_id: str
    unit: str
    readings: list[ReadingOut]


_READING_EXAMPLE = {"sensor_id": "heng-turb-02", "value": 37.5, "unit": "NTU", "ts": 1767225600}


@router.post(
    "/readings",
    summary="Post sensor readings (gateways)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "oneOf": [
                            {"type": "object"},
                            {"type": "array", "items": {"type": "object"}},
                        ]
                    },
                    "example": [_READING_EXAMPLE],
                }
            },
        }
    },
    responses={
        400: {"description": "the body is not JSON"},
        413: {"description": "the body or the batch is too large"},
        422: {"description": "readings refused; `detail.problems` lists each by index"},
        503: {"description": "the readings database or the alert spool is unavailable"},
    },
)
async def post_readings(
    request: Request, hub: SensorHubDep, _: SensorGateway, trail: AuditDep
) -> IngestOut:
    """Run the sensors' rules on one reading or a batch, spool their alerts, store them."""
    body = await _read_body(request, hub)
    items = _decode(body, hub)
    readings = _parse_items(items, hub)
    try:
        report = await hub.ingest_many(readings, all_or_nothing=True)
    except BatchRejected as exc:
        raise HTTPException(422, _problems(exc.problems)) from None
    except (SensorStoreError, AlertsNotDurable) as exc:
        raise HTTPException(503, str(exc)) from None
    sensors = sorted({r.sensor_id for r in readings})
    detail = {"accepted": len(report.accepted), "sensors": sensors[:20]}
    await trail.record("sensor.readings", f"sensors:{len(sensors)}", detail)
    return IngestOut(accepted=len(report.accepted))


class SensorOut(BaseModel):
    """A configured sensor, as the sensor panel lists it."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "jinsha-turbidity-1",
                    "name": "Jinsha turbidity below the bridge",
                    "kind": "turbidity",
                    "unit": "NTU",
                    "group": "jinsha",
                    "cameras": ["jinsha-001"],
                }
            ]
        }
    )

    id: str
    name: str
    kind: str
    unit: str
    group: str
    cameras: list[str]


@router.get("", summary="The configured sensors")
async def list_sensors(_: Operator, hub: SensorHubDep) -> list[SensorOut]:
    """Every sensor in the config, with its kind, unit and linked cameras."""
    return [
        SensorOut(
            id=s.id,
            name=s.name,
            kind=str(s.kind),
            unit=s.canonical_unit,
            group=s.group,
            cameras=[link.camera_id for link in s.cameras],
        )
        for s in hub.sensors()
    ]


@router.get(
    "/{sensor_id}/readings",
    summary="A sensor's recent readings",
    responses={
        404: {"description": "no such sensor"},
        422: {"description": "`since` is not a time"},
        503: {"description": "the readings database is unavailable"},
    },
)
async def get_readings(
    sensor_id: str,
    _: Operator,
    hub: SensorHubDep,
    since: Annotated[str | None, Query(max_length=40, description="epoch s or ISO-8601")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> ReadingsOut:
    """A sensor's stored readings from `since` (default: the last hour), oldest first."""
    if not hub.knows(sensor_id):
        raise HTTPException(404, f"no sensor with id {sensor_id[:64]!r}")
    start = hub.now() - _DEFAULT_LOOKBACK_S if since is None else _since(since)
    try:
        rows = await hub.recent(sensor_id, start, limit)
    except SensorStoreError as exc:
        raise HTTPException(503, str(exc)) from None
    return ReadingsOut(
        sensor_id=sensor_id,
        unit=hub.unit_of(sensor_id),
        readings=[ReadingOut(ts=r.ts, value=r.value) for r in rows],
    )


async def _read_body(request: Request, hub: SensorHub) -> bytes:
    # Refuse by the declared length first, and count while streaming for chunked bodies.
    limit = hub.config.http_max_body_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(hub, f"body of {declared} bytes exceeds {limit}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(hub, f"body exceeds {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(hub: SensorHub, message: str) -> HTTPException:
    hub.count_reject(ReadingRejected(RejectReason.TOO_LARGE, message))
    return HTTPException(413, message)


def _decode(body: bytes, hub: SensorHub) -> list[Any]:
    try:
        obj = json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError):
        hub.count_reject(ReadingRejected(RejectReason.BAD_JSON, "body is not JSON"))
        raise HTTPException(400, "the body is not JSON") from None
    items = obj if isinstance(obj, list) else [obj]
    if not items:
        raise HTTPException(422, "an empty batch")
    if len(items) > hub.config.http_max_batch:
        raise _too_large(hub, f"{len(items)} readings; at most {hub.config.http_max_batch}")
    return items


def _parse_items(items: list[Any], hub: SensorHub) -> list[Reading]:
    now = hub.now()
    readings: list[Reading] = []
    problems: list[tuple[int, ReadingRejected]] = []
    for index, item in enumerate(items):
        try:
            readings.append(reading_from_obj(item, now))
        except ReadingRejected as exc:
            hub.count_reject(exc)
            problems.append((index, exc))
    if problems:
        raise HTTPException(422, _problems(problems))
    return readings


def _problems(problems: list[tuple[int, ReadingRejected]]) -> dict[str, Any]:
    return {
        "message": f"{len(problems)} reading(s) refused; nothing was stored",
        "problems": [
            {"index": i, "sensor_id": p.sensor_id, "reason": p.reason.value, "detail": p.detail}
            for i, p in problems
        ],
    }


def _since(raw: str) -> float:
    value: object
    try:
        value = float(raw)
    except ValueError:
        value = raw
    try:
        return parse_ts(value)
    except ReadingRejected as exc:
        raise HTTPException(422, f"since: {exc.detail}") from None
