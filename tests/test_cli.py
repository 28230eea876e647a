"""The `riverwatch` command line: every subcommand is listed in `--help`; a misspelt setting in
the environment is named."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

from hub.cli import build_parser
from riverwatch.settings import unknown_settings


def _subcommands() -> dict[str, str]:
    """Each subcommand's name and its one-line help, as the parser declares them."""
    actions = build_parser()._subparsers._group_actions  # type: ignore[union-attr]
    (sub,) = (a for a in actions if isinstance(a, argparse._SubParsersAction))
    return {a.dest: a.help or "" for a in sub._choices_actions}


def test_help_lists_every_subcommand_with_a_one_line_help() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "hub.cli", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    commands = _subcommands()
    assert {"run", "demo", "simulate", "evaluate", "users", "check-config"} <= set(commands)
    lines = result.stdout.splitlines()
    for name, help_text in commands.items():
        assert help_text, f"{name} has no help"
        assert any(line.split()[:1] == [name] for line in lines), name
    # A line that enumerates commands (the old description did) must not leave one out.
    for line in lines:
        named = set(commands) & set(re.findall(r"[\w-]+", line))
        assert len(named) < 3 or len(named) == len(commands), line


def test_a_misspelt_setting_is_named_with_the_one_meant() -> None:
    # pydantic-settings ignores unknown variables: without this the hub would run the
    # setting's default and say nothing.
    env = {
        **os.environ,
        "RIVERWATCH_CLUSTR": "true",
        "RIVERWATCH_EVIDENCE_MAX_AGE": "3600",
        "RIVERWATCH_SIM_PORT": "8554",  # the simulator's, not a setting: not named
    }
    config = Path(__file__).resolve().parents[1] / "configs" / "city.example.yaml"
    result = subprocess.run(
        [sys.executable, "-m", "hub.cli", "check-config", str(config)],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert "RIVERWATCH_CLUSTR is not a setting" in result.stderr
    assert "did you mean RIVERWATCH_CLUSTER?" in result.stderr
    assert "did you mean RIVERWATCH_EVIDENCE_MAX_AGE_S?" in result.stderr
    assert "RIVERWATCH_SIM_PORT" not in result.stderr
    assert unknown_settings({"RIVERWATCH_PORT": "8080", "PATH": "/bin"}) == []
