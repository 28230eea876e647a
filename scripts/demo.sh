#!/usr/bin/env bash
# Install riverwatch into a virtualenv and run the demo hub: simulated cameras on a real RTSP
# server (or looping files when GStreamer cannot be installed), embedded Redis, the API.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/system-deps.sh || echo "riverwatch: continuing without the RTSP simulator" >&2
python=${PYTHON:-python3}
venv=${RIVERWATCH_VENV:-.venv}
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip
"$venv/bin/python" -m pip install -q .
exec "$venv/bin/riverwatch" demo "$@"
