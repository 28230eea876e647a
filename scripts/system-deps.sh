#!/usr/bin/env bash
# Install the Debian packages riverwatch needs, only those missing.
#   python3-venv: the project's virtualenv;  python3-gi + gst-rtsp-server + plugins: the
#   camera simulator's real RTSP server (runs under the system python3; its camera profiles'
#   H.265 and AAC need only h265parse from plugins-bad and rtph265pay, aacparse, rtpmp4gpay
#   from plugins-good: the encodes themselves come from PyAV's wheel); postgresql and
#   mosquitto: the real PostgreSQL and MQTT broker the tests start on private ports;
#   chromium: the real browser the page tests drive (through Playwright, no download).
set -euo pipefail
packages=(python3-venv python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base
          gstreamer1.0-plugins-good gstreamer1.0-plugins-bad postgresql mosquitto
          chromium)
missing=()
if command -v dpkg >/dev/null 2>&1; then
  for p in "${packages[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
fi
if [ "${#missing[@]}" -eq 0 ]; then exit 0; fi
echo "riverwatch: installing Debian packages: ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo="sudo -n"; else
    echo "riverwatch: not root and no sudo; please install: ${missing[*]}" >&2; exit 1
  fi
fi
$sudo apt-get update -q
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
