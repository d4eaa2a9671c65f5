#!/usr/bin/env bash
# Set up anyhand-hf on a fresh machine: a virtual environment in .venv with the CPU torch
# wheel, the package and its extras, and (Debian/Ubuntu without an NVIDIA driver) Mesa's
# lavapipe Vulkan driver so SAPIEN can render on the CPU. Idempotent: a second run is quick.
#   EXTRAS=render,train bash setup.sh   # choose extras (default: dev = everything the tests use)
#   ANYHAND_SKIP_VULKAN=1 bash setup.sh # skip the Vulkan driver step (no root, or done by hand)
#   ANYHAND_SKIP_BROWSER=1 bash setup.sh # skip Chromium for the Space's browser test
set -euo pipefail
cd "$(dirname "$0")"
EXTRAS="${EXTRAS:-dev}"
VENV="${VENV:-.venv}"
PY="${PYTHON:-python3}"

if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
pip() { "$VENV/bin/python" -m pip --disable-pip-version-check -q "$@"; }

# torch first and pinned: a bare `torch` requirement would pull a multi-GB CUDA build.
"$VENV/bin/python" -c 'import torch' 2>/dev/null || pip install "torch==2.13.0"
pip install -e ".[${EXTRAS}]"
if [[ ",$EXTRAS," == *,render,* || ",$EXTRAS," == *,dev,* ]]; then
  pip install --no-deps "sapien==3.0.3"  # see pyproject.toml's render extra for why --no-deps
fi

# SAPIEN renders through Vulkan: lavapipe on the CPU unless an NVIDIA driver is present.
if [ "${ANYHAND_SKIP_VULKAN:-0}" != 1 ]; then
  bash scripts/install_vulkan.sh
fi
# The Space's browser test drives Debian's Chromium with Playwright (dev extra only).
if [[ ",$EXTRAS," == *,dev,* && "${ANYHAND_SKIP_BROWSER:-0}" != 1 ]]; then
  bash scripts/install_browser.sh
fi
echo "anyhand-hf ready in $VENV (extras: $EXTRAS)"
