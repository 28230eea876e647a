"""Configuration: every problem reported at once, secrets resolved and never shown."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from riverwatch.config import ConfigError, load_config, parse_config
from riverwatch.settings import Settings

GOOD = """
groups:
  - {id: jinsha, name: Jinsha river, kind: river}
cameras:
  - id: jinsha-001
    name: Bridge east
    group: jinsha
    url: rtsp://${CAM_USER}:${CAM_PASS}@10.20.1.11:554/ch1
"""

BAD = """
groups:
  - {id: jinsha, name: Jinsha, kind: river}
cameras:
  - id: cam-1
    name: ok
    group: jinsha
    url: rtsp://${USER1}:${PASS1}@10.0.0.1/x
  - id: cam-1
    name: ""
    group: nowhere
    url: rtsp://a/b
    colour: red
  - id: cam-3
    name: z
    group: jinsha
    url: ftp://x/y
    analysis: {decode_mode: sometimes, detect_fps: -1}
    zones:
      - {id: z1, polygon: [[0,0],[1,0]]}
      - {id: z1, polygon: [[0,0],[1,0],[2,2]]}
"""


def test_minimal_camera_gets_defaults_and_resolved_secret_url() -> None:
    loaded = parse_config(GOOD, env={"CAM_USER": "admin", "CAM_PASS": "p@ss:word!"})
    cam = loaded.cameras[0]
    assert cam.config.analysis.decode_mode == "keyframes"
    assert cam.url.get_secret_value() == "rtsp://admin:p@ss:word!@10.20.1.11:554/ch1"
    assert cam.display_url == "rtsp://***@10.20.1.11:554/ch1"
    assert "p@ss:word!" not in repr(cam) and "p@ss:word!" not in str(loaded.hub)
    assert loaded.redactor.scrub("failed: p@ss:word! at host") == "failed: *** at host"


def test_secrets_file_is_used_when_environment_lacks_a_value(tmp_path: Path) -> None:
    (tmp_path / "cams.env").write_text("CAM_USER=admin\nCAM_PASS='fromfile'\n")
    text = GOOD + "secrets_file: cams.env\n"
    (tmp_path / "c.yaml").write_text(text)
    loaded = load_config(tmp_path / "c.yaml", env={})
    assert "fromfile" in loaded.cameras[0].url.get_secret_value()


def test_every_problem_is_reported_at_once_naming_camera_and_field() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(BAD, env={"USER1": "u"})
    problems = err.value.problems
    expected = [
        "camera 'cam-1' (cameras[1]): name:",
        "camera 'cam-1' (cameras[1]): colour: Extra inputs are not permitted",
        "camera 'cam-3' (cameras[2]): analysis.decode_mode:",
        "camera 'cam-3' (cameras[2]): analysis.detect_fps:",
        "camera 'cam-3' (cameras[2]): zones[0].polygon:",
        "camera 'cam-3' (cameras[2]): zones[1].polygon[2][0]:",
        "camera 'cam-1': id: used by 2 cameras",
        "camera 'cam-1' (cameras[1]): group: 'nowhere' is not one of the declared groups",
        "camera 'cam-3' (cameras[2]): zones: zone id 'z1' used 2 times",
        "camera 'cam-1' (cameras[0]): url: not set in the environment nor in the secrets file:",
        "camera 'cam-3' (cameras[2]): url: scheme must be one of",
    ]
    for line in expected:
        assert any(p.startswith(line) for p in problems), line
    assert len(problems) == 12


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("cameras: []", "cameras: List should have at least 1 item"),
        ("- just a list", "must be a mapping"),
        ("cameras: [ {id: a", "not valid YAML"),
        ("cameras:\n  - {id: A B, name: x, group: g, url: 'rtsp://h/x'}", "id: String should"),
    ],
)
def test_malformed_files_give_a_clear_message(text: str, needle: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(text, env={})
    assert needle in str(err.value)


def test_check_config_command_lists_problems_and_exits_non_zero(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD.replace("${USER1}:${PASS1}", "admin:TopSecret99"))
    result = subprocess.run(
        [sys.executable, "-m", "hub.cli", "check-config", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "11 problem(s)" in result.stderr
    assert "TopSecret99" not in result.stderr + result.stdout


def test_run_refuses_to_start_on_a_bad_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD)
    result = subprocess.run(
        [sys.executable, "-m", "hub.cli", "run", "--config", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "refusing to start" in result.stderr and "12 problem(s)" in result.stderr


@pytest.mark.parametrize("name", ["demo.yaml", "city.example.yaml"])
def test_shipped_configs_are_valid(name: str) -> None:
    path = Path(__file__).parent.parent / "configs" / name
    env = {
        "RIVERWATCH_SIM_USER": "u",
        "RIVERWATCH_SIM_PASSWORD": "p",
        "RIVERWATCH_SIM_PORT": "8554",
        "CITY_CAM_USER": "u",
        "CITY_CAM_PASS": "p",
        "JINSHA_CAM_USER": "u",
        "JINSHA_CAM_PASS": "p",
        "HENG_CAM_USER": "u",
        "HENG_CAM_PASS": "p",
    }
    loaded = load_config(path, env=env)
    assert len(loaded.cameras) >= 7


@pytest.mark.parametrize(
    ("given", "level"), [("debug", "DEBUG"), ("Warning", "WARNING"), (" INFO ", "INFO")]
)
def test_log_level_is_accepted_in_any_case(
    monkeypatch: pytest.MonkeyPatch, given: str, level: str
) -> None:
    monkeypatch.setenv("RIVERWATCH_LOG_LEVEL", given)
    assert Settings().log_level == level


def test_an_unknown_log_level_is_still_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RIVERWATCH_LOG_LEVEL", "chatty")
    with pytest.raises(ValidationError):
        Settings()


CONFIGS = Path(__file__).parent.parent / "configs"
SHIPPED_VARIABLES = {
    "city.example.yaml": [
        "CITY_CAM_USER",
        "CITY_CAM_PASS",
        "JINSHA_CAM_USER",
        "JINSHA_CAM_PASS",
        "HENG_CAM_USER",
        "HENG_CAM_PASS",
    ],
    "demo.yaml": ["RIVERWATCH_SIM_USER", "RIVERWATCH_SIM_PASSWORD", "RIVERWATCH_SIM_PORT"],
}


def _check_config(path: Path, **extra_env: str) -> subprocess.CompletedProcess[str]:
    """`riverwatch check-config` with none of the shipped configs' variables set."""
    unset = {n for names in SHIPPED_VARIABLES.values() for n in names} | {"RIVERWATCH_SECRETS_FILE"}
    env = {k: v for k, v in os.environ.items() if k not in unset} | extra_env
    return subprocess.run(
        [sys.executable, "-m", "hub.cli", "check-config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )


@pytest.mark.parametrize(("name", "groups"), [("city.example.yaml", 3), ("demo.yaml", 1)])
def test_unset_variables_are_named_first_and_summarised(name: str, groups: int) -> None:
    result = _check_config(CONFIGS / name)
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    names = SHIPPED_VARIABLES[name]
    assert lines[0] == f"{len(names)} variable(s) not set: {', '.join(names)}"
    assert "export RIVERWATCH_SECRETS_FILE=" in result.stderr
    assert f"export {' '.join(f'{n}=...' for n in names)}" in result.stderr
    # One line per set of cameras sharing a login, not one per camera and field.
    assert f"{name}: {groups} problem(s)" in result.stderr
    assert sum("not set in the environment" in line for line in lines) == groups
    assert len(lines) < 20


@pytest.mark.parametrize("name", SHIPPED_VARIABLES)
def test_the_secrets_file_the_hint_names_provides_them(tmp_path: Path, name: str) -> None:
    secrets = tmp_path / "riverwatch.env"
    secrets.write_text("".join(f"{n}=8554\n" for n in SHIPPED_VARIABLES[name]))
    result = _check_config(CONFIGS / name, RIVERWATCH_SECRETS_FILE=str(secrets))
    assert result.returncode == 0, result.stderr
    assert "ok," in result.stdout
