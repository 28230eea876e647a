"""The lock: every dependency pinned with hashes, and a lock that drifts from pyproject.toml is
refused by the test command (scripts/check_lock.py) before anything else runs."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LOCKS = ("hub.txt", "test.txt")


def _copy_project(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copytree(ROOT / "requirements", tmp_path / "requirements")
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "check_lock.py", tmp_path / "scripts" / "check_lock.py")
    return tmp_path


def _check(project: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(project / "scripts" / "check_lock.py")],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("lock", LOCKS)
def test_every_pin_is_exact_and_hashed(lock: str) -> None:
    text = (ROOT / "requirements" / lock).read_text()
    entries = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 1)[1])
    pinned = [e for e in entries if e.strip()]
    assert len(pinned) > 20
    for entry in pinned:
        name = entry.split()[0]
        assert "==" in name, f"{lock}: {name} is not pinned to one version"
        assert "--hash=sha256:" in entry, f"{lock}: {name} has no hash"


def test_the_committed_lock_matches_pyproject(tmp_path: Path) -> None:
    result = _check(_copy_project(tmp_path))
    assert result.returncode == 0, result.stderr


def test_a_version_outside_the_lock_is_refused(tmp_path: Path) -> None:
    project = _copy_project(tmp_path)
    pyproject = project / "pyproject.toml"
    text = pyproject.read_text()
    assert '"redis>=5",' in text
    pyproject.write_text(text.replace('"redis>=5",', '"redis>=999",'))
    result = _check(project)
    assert result.returncode == 1
    assert "requirements/hub.txt: redis==" in result.stderr
    assert "requirements/test.txt: redis==" in result.stderr
    assert "bash scripts/lock.sh" in result.stderr


def test_a_dependency_missing_from_the_lock_is_refused(tmp_path: Path) -> None:
    project = _copy_project(tmp_path)
    pyproject = project / "pyproject.toml"
    text = pyproject.read_text()
    pyproject.write_text(text.replace('"PyYAML>=6",', '"PyYAML>=6",\n    "tabulate>=0.9",'))
    result = _check(project)
    assert result.returncode == 1
    assert "tabulate is not pinned" in result.stderr


def test_the_two_locks_must_agree(tmp_path: Path) -> None:
    project = _copy_project(tmp_path)
    hub = project / "requirements" / "hub.txt"
    version = re.search(r"^redis==(\S+)", hub.read_text(), re.M)
    assert version is not None
    hub.write_text(hub.read_text().replace(f"redis=={version[1]}", "redis==5.0.0"))
    result = _check(project)
    assert result.returncode == 1
    assert "requirements/hub.txt pins redis==5.0.0" in result.stderr
