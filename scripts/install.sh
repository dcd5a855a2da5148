#!/usr/bin/env bash
# One-step set-up on a fresh Debian/Ubuntu machine (run as root or with sudo available):
# the system libraries Qt needs (offscreen, Xvfb and desktop), fonts, then this package
# with the pinned torch/torchvision pair and the dev extras.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi

if command -v apt-get >/dev/null 2>&1; then
  need=""
  for p in libgl1 libegl1 libglib2.0-0 libfontconfig1 libdbus-1-3 libxkbcommon0 \
           libxkbcommon-x11-0 libxcb-icccm4 libxcb-keysyms1 libxcb-cursor0 libxcb-image0 \
           libxcb-render-util0 libxcb-shape0 libxcb-randr0 libxcb-xinerama0 \
           fonts-dejavu-core xvfb xauth; do
    dpkg -s "$p" >/dev/null 2>&1 || need="$need $p"
  done
  if [ -n "$need" ]; then
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $need
  fi
fi

PY="${PYTHON:-python3}"
# torch and torchvision must be a matching pair; PyPI's torchvision does not import
# with a CPU-only torch, so both come from PyPI together.
"$PY" -m pip install -q "torch==2.14.1" "torchvision==0.29.1"
"$PY" -m pip install -q -e ".[dev]"
