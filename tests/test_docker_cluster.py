"""`docker/compose.cluster.yaml`: three hubs behind one address, Redis with Sentinel, PostgreSQL,
MinIO for evidence.

No Docker engine runs here: the file is read as YAML and held to what the hubs need (the
settings are the hub's own, validated by `Settings`); the front's nginx config is read for its
upstreams. The sentinel command's config lines were run through a real sentinel by hand.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from riverwatch.settings import Settings
from tests.test_docker import REQUIRED_REF, SECRET_KEY

DOCKER_DIR = Path(__file__).resolve().parent.parent / "docker"
COMPOSE = DOCKER_DIR / "compose.cluster.yaml"
HUBS = ("hub-a", "hub-b", "hub-c")
SENTINELS = ("sentinel-1", "sentinel-2", "sentinel-3")


def services() -> dict[str, Any]:
    found: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))["services"]
    return found


def hub_settings(name: str) -> Settings:
    """The hub's environment as the hub would read it (placeholders filled in)."""
    env = {
        k: REQUIRED_REF.sub("x" * 16, str(v)) for k, v in services()[name]["environment"].items()
    }
    fields = {
        k.removeprefix("RIVERWATCH_").lower(): v
        for k, v in env.items()
        if k.startswith("RIVERWATCH_")
    }
    fields = {k: re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", v) for k, v in fields.items()}
    return Settings.model_validate(fields)


def test_three_hubs_share_one_config_each_with_its_own_id_and_data() -> None:
    found = services()
    ids = {hub_settings(name).hub_id for name in HUBS}
    assert ids == set(HUBS)
    binds = {
        str(v["source"]) for name in HUBS for v in found[name]["volumes"] if v["type"] == "bind"
    }
    assert len(binds) == 1, "every hub runs the same camera config"
    data = [v["source"] for name in HUBS for v in found[name]["volumes"] if v["target"] == "/data"]
    assert len(set(data)) == 3, "each hub has its own data volume"
    files = {str(hub_settings(name).files_root) for name in HUBS}
    assert files == {"/shared"}, "labels every hub reads"
    shared = [
        v["source"] for name in HUBS for v in found[name]["volumes"] if v["target"] == "/shared"
    ]
    assert len(shared) == 3 and len(set(shared)) == 1, "one files volume, mounted by all"


@pytest.mark.parametrize("name", HUBS)
def test_every_hub_is_clustered_on_the_sentinels_and_postgres(name: str) -> None:
    settings = hub_settings(name)
    assert settings.cluster and not settings.own_redis
    assert settings.advertised_url == f"http://{name}:8080"  # the others pass live view here
    assert sorted(host for host, _ in settings.sentinel_addresses) == list(SENTINELS)
    assert {port for _, port in settings.sentinel_addresses} == {26379}
    assert settings.redis_replicas_ack == 1
    assert settings.ticket_db_url is not None
    assert "@postgres:5432/" in settings.ticket_db_url.get_secret_value()
    depends = services()[name]["depends_on"]
    assert set(depends) == {"postgres", "minio", *SENTINELS}
    assert all(d["condition"] == "service_healthy" for d in depends.values())


def test_three_sentinels_watch_the_redis_service_with_a_quorum_of_two() -> None:
    found = services()
    for name in SENTINELS:
        script = found[name]["command"][-1]
        assert "sentinel monitor riverwatch redis 6379 2" in re.sub(r"\s+", " ", script)
        assert "--sentinel" in script and "ckquorum" in found[name]["healthcheck"]["test"]
    assert found["redis-replica"]["command"][-2:] == ["redis", "6379"]


def test_the_front_passes_to_every_hub_on_one_port() -> None:
    front = services()["front"]
    assert front["ports"] == ["8080:8080"]
    (bind,) = front["volumes"]
    conf = (DOCKER_DIR / bind["source"]).read_text(encoding="utf-8")
    upstreams = re.findall(r"server (hub-[a-c]):8080", conf)
    assert sorted(upstreams) == list(HUBS)
    assert "proxy_next_upstream" in conf and "Upgrade" in conf  # a dead hub is skipped


def test_no_secret_is_written_in_the_cluster_file() -> None:
    for name, body in services().items():
        environment = body.get("environment", {})
        for key, value in environment.items() if isinstance(environment, dict) else []:
            if SECRET_KEY.search(key):
                assert REQUIRED_REF.fullmatch(str(value)), f"{name}: {key}"


@pytest.mark.parametrize("name", HUBS)
def test_every_hub_sends_its_evidence_to_the_minio_bucket(name: str) -> None:
    settings = hub_settings(name)
    assert settings.s3_endpoint == "http://minio:9000" and settings.s3_bucket == "riverwatch"
    assert settings.s3_access_key is not None and settings.s3_secret_key is not None
    minio = services()["minio"]
    env = services()[name]["environment"]
    assert env["RIVERWATCH_S3_ACCESS_KEY"] == minio["environment"]["MINIO_ROOT_USER"]
    assert env["RIVERWATCH_S3_SECRET_KEY"] == minio["environment"]["MINIO_ROOT_PASSWORD"]
    assert minio["command"][:2] == ["server", "/data"]
    assert "mc" in minio["healthcheck"]["test"] and ":" in minio["image"]
