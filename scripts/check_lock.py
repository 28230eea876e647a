"""Refuse a lock that no longer matches pyproject.toml (run by scripts/test.sh).

Every dependency pyproject.toml names (the hub's, and the test extra's for the test lock) must
be pinned in the lock by a version its specifier admits, and the two locks must agree on every
package they share. A mismatch names each offending requirement and the command that mends it.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$")


def read_pins(lock: Path) -> dict[str, str]:
    """Package name -> pinned version, for the pins whose markers hold on this interpreter."""
    pins: dict[str, str] = {}
    for line in lock.read_text().splitlines():
        match = PIN.match(line)
        if match is None:
            continue
        name, version, marker = match.groups()
        condition = Requirement(f"{name}=={version}; {marker}").marker if marker else None
        if condition is not None and not condition.evaluate():
            continue
        pins[canonicalize_name(name)] = version
    return pins


def problems(wanted: list[str], pins: dict[str, str], lock: str) -> list[str]:
    found: list[str] = []
    for text in wanted:
        req = Requirement(text)
        if req.marker is not None and not req.marker.evaluate():
            continue
        version = pins.get(canonicalize_name(req.name))
        if version is None:
            found.append(f"{lock}: {req.name} is not pinned (pyproject.toml asks for {text!r})")
        elif not req.specifier.contains(version, prereleases=True):
            found.append(f"{lock}: {req.name}=={version} is outside {str(req.specifier)!r}")
    return found


def main() -> int:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    tools = [
        line.strip()
        for line in (ROOT / "requirements" / "tools.in").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    hub_wanted = [*project["dependencies"], *tools]
    test_wanted = [*hub_wanted, *project["optional-dependencies"]["test"]]
    hub = read_pins(ROOT / "requirements" / "hub.txt")
    test = read_pins(ROOT / "requirements" / "test.txt")
    found = problems(hub_wanted, hub, "requirements/hub.txt")
    found += problems(test_wanted, test, "requirements/test.txt")
    found += [
        f"requirements/hub.txt pins {name}=={hub[name]} but requirements/test.txt {test[name]}"
        for name in sorted(hub.keys() & test.keys())
        if hub[name] != test[name]
    ]
    for line in found:
        sys.stderr.write(f"lock: {line}\n")
    if found:
        sys.stderr.write("lock: out of date with pyproject.toml; run: bash scripts/lock.sh\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
