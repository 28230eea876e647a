#!/usr/bin/env bash
# Install riverwatch from the lock into a virtualenv and run the demo hub: simulated cameras on
# a real RTSP server (or looping files when GStreamer cannot be installed), embedded Redis, the API.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/system-deps.sh || echo "riverwatch: continuing without the RTSP simulator" >&2
bash scripts/venv.sh requirements/hub.txt
exec "${RIVERWATCH_VENV:-.venv}/bin/riverwatch" demo "$@"
