"""The `riverwatch` command line: every subcommand is listed in `--help`."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys

from hub.cli import build_parser


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
