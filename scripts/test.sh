#!/usr/bin/env bash
# Install everything the tests need (Debian packages, a virtualenv with the project and its
# test extras), then run the linters, the type checker and the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/system-deps.sh
python=${PYTHON:-python3}
venv=${RIVERWATCH_VENV:-.venv}
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip
"$venv/bin/python" -m pip install -q -e ".[test]"
export PATH="$PWD/$venv/bin:$PATH"
ruff check .
ruff format --check .
mypy
pytest "$@"
