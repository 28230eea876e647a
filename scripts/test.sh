#!/usr/bin/env bash
# Install everything the tests need from the lock (Debian packages, a virtualenv with the
# project and its test tools pinned with hashes), check that the lock still matches
# pyproject.toml, then run the linters, the type checker, the layer contracts and the suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/system-deps.sh
bash scripts/venv.sh requirements/test.txt
venv=${RIVERWATCH_VENV:-.venv}
export PATH="$PWD/$venv/bin:$PATH"
python scripts/check_lock.py
ruff check .
ruff format --check .
mypy
lint-imports
pytest "$@"
