#!/usr/bin/env bash
# Make (or bring up to date) the project's virtualenv from one lock, then install the project
# into it, editable, without resolving anything: every package comes pinned, with its hashes.
#   usage: bash scripts/venv.sh requirements/hub.txt|requirements/test.txt
# Both README commands use the same virtualenv in the same way, so running one after the
# other never swaps the install under the other.
set -euo pipefail
cd "$(dirname "$0")/.."
lock=$1
python=${PYTHON:-python3}
venv=${RIVERWATCH_VENV:-.venv}
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
"$venv/bin/python" -m pip install -q --require-hashes -r "$lock"
# The build backend (setuptools, wheel) is in the lock: no build isolation, nothing fetched.
"$venv/bin/python" -m pip install -q --no-deps --no-build-isolation -e .
