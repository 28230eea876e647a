"""A hub whose evidence goes to the shared bucket, end to end: a boat on a real RTSP camera
becomes a ticket; its snapshot and clip, and a field photo, are uploaded to a real S3 server; a
hub that does not hold them (the local copies removed) serves them from the bucket with the
ticket's checksums;
with the store cut off, asking for them is a clear 503, and `/metrics` and `/readyz` say what
the uploads did."""

from __future__ import annotations

import contextlib
import hashlib
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
from fastapi import FastAPI
from pydantic import SecretStr

from api import create_app
from api.deps import get_hub
from api.routes.sensors import get_sensor_hub
from api.security import Role
from hub.runtime import Hub
from riverwatch.config import parse_config
from riverwatch.settings import Settings
from simulator.server import RtspSimulator
from tests.api_fixtures import sign_in
from tests.conftest import eventually
from tests.s3_fixtures import ACCESS_KEY, SECRET_KEY, S3Server
from tests.test_hub_resilience import scrape, value

PNG = cv2.imencode(".png", np.full((8, 8, 3), 200, np.uint8))[1].tobytes()
CONFIG = """
groups:
  - {{id: jinsha, name: Jinsha, kind: river}}
cameras:
  - id: boat
    name: Boat crossing
    group: jinsha
    url: rtsp://viewer:s3cret-Pa55@127.0.0.1:{port}/boat
    zones:
      - {{id: ban, kind: no_fishing, severity: high,
          polygon: [[0, 0.3], [1, 0.3], [1, 1], [0, 1]]}}
"""


async def test_evidence_goes_to_the_bucket_and_any_hub_serves_it(
    rtsp: RtspSimulator, settings: Settings, s3: S3Server, tmp_path: Path
) -> None:
    files = tmp_path / "files"
    settings = settings.model_copy(
        update={
            "files_dir": files,
            "evidence_pre_roll_s": 3.0,
            "evidence_post_roll_s": 3.0,
            "s3_endpoint": s3.endpoint,
            "s3_bucket": "city-evidence",
            "s3_access_key": SecretStr(ACCESS_KEY),
            "s3_secret_key": SecretStr(SECRET_KEY),
        }
    )
    async with Hub(settings, parse_config(CONFIG.format(port=rtsp.port))) as hub:
        app = create_app(lambda: contextlib.nullcontext(hub))
        app.dependency_overrides[get_hub] = lambda: hub
        app.dependency_overrides[get_sensor_hub] = hub.sensors
        headers = await sign_in(app, hub.engine, Role.ADMIN)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://hub", headers=headers
        ) as client:

            async def evidence_sent() -> bool:
                tickets = (await client.get("/api/tickets")).json()
                uploads = hub.desk.uploads
                done = uploads is not None and uploads.stats().pending == 0
                return bool(tickets and tickets[0]["clip"] and tickets[0]["snapshot"] and done)

            await eventually(evidence_sent, timeout_s=120, what="a ticket's evidence uploaded")
            ticket = (await client.get("/api/tickets")).json()[0]
            samples = await scrape(client)
            assert value(samples, "riverwatch_evidence_uploaded_total") == 2  # snapshot, clip
            assert value(samples, "riverwatch_evidence_upload_pending") == 0
            ready = (await client.get("/readyz")).json()
            assert ready["checks"]["evidence_uploads"] is True

            # Another hub never had these files: it serves them from the bucket.
            for name in ("snapshot", "clip"):
                (files / ticket[name]).unlink()
            for kind, field in (("snapshot", "snapshot_sha256"), ("clip", "clip_sha256")):
                answer = await client.get(f"/api/tickets/{ticket['id']}/evidence/{kind}")
                assert answer.status_code == 200, answer.text
                assert hashlib.sha256(answer.content).hexdigest() == ticket[field]
            samples = await scrape(client)
            assert value(samples, "riverwatch_evidence_fetched_total") == 2

            # A field photo handed in on this hub is served by any hub too.
            photo = await _photo_handed_in(app, hub, ticket["id"])
            await eventually(lambda: _all_sent(hub), what="the photo uploaded")
            (files / photo["path"]).unlink()
            url = f"/api/tickets/{ticket['id']}/attachments/{photo['id']}"
            served = await client.get(url)
            assert served.status_code == 200 and served.content == PNG

            # The store cut off: a file only it holds is a 503 that says why, not a 500.
            (files / ticket["snapshot"]).unlink()
            s3.stop()
            answer = await client.get(f"/api/tickets/{ticket['id']}/evidence/snapshot")
            assert answer.status_code == 503 and "shared evidence store" in answer.text


def _all_sent(hub: Hub) -> bool:
    uploads = hub.desk.uploads
    return uploads is not None and uploads.stats().pending == 0


async def _photo_handed_in(app: FastAPI, hub: Hub, ticket_id: int) -> dict[str, Any]:
    """li of the enforcement team takes the ticket and hands it in with a photo."""
    headers = await sign_in(app, hub.engine, Role.ENFORCEMENT, username="li")
    transport = httpx.ASGITransport(app=app)
    url = f"/api/tickets/{ticket_id}/transitions"
    async with httpx.AsyncClient(transport=transport, base_url="http://hub", headers=headers) as li:
        taken = await li.post(url, data={"to": "assigned", "assignee": "li"})
        assert taken.status_code == 200, taken.text
        handed = await li.post(
            url, data={"to": "handled"}, files={"photos": ("pier.png", PNG, "image/png")}
        )
        assert handed.status_code == 200, handed.text
        photo: dict[str, Any] = (await li.get(f"/api/tickets/{ticket_id}")).json()["attachments"][0]
    return photo
