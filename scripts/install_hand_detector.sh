#!/usr/bin/env bash
# Offline hand detection for the predictor (anyhand_hf.detect.MediaPipeHandDetector).
#
# mediapipe 1.x runs with numpy 2 but ships no models; the mediapipe 0.10.21 wheel ships the
# palm-detection and hand-landmark .tflite files (but needs numpy < 2). So: install mediapipe 1.x,
# download (never install) the 0.10.21 wheel, and build hand_landmarker.task from its two models in
# $ANYHAND_CACHE/mediapipe/ (default ~/.cache/anyhand/mediapipe/), never in the repository.
#
# Usage: bash scripts/install_hand_detector.sh [--force] [--cache-dir DIR] [--wheel mediapipe-0.10.21-*.whl]
# Environment: PYTHON (default: the repo's .venv, else python3), MEDIAPIPE_VERSION (default 1.2.3).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [[ -z "${PYTHON:-}" ]]; then
  if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
MEDIAPIPE_VERSION="${MEDIAPIPE_VERSION:-1.2.3}"

before=$("$PYTHON" -c 'import numpy, torch; print(numpy.__version__, torch.__version__)' 2>/dev/null || true)
# --no-deps: mediapipe asks for opencv-contrib-python, whose cv2 would clash with
# opencv-python-headless; sounddevice (audio tasks) is not needed. The rest it imports:
"$PYTHON" -m pip install --no-deps "mediapipe==${MEDIAPIPE_VERSION}"
"$PYTHON" -m pip install "absl-py~=2.3" "flatbuffers~=25.9" matplotlib
after=$("$PYTHON" -c 'import numpy, torch; print(numpy.__version__, torch.__version__)' 2>/dev/null || true)
if [[ "$before" != "$after" ]]; then
  echo "warning: numpy/torch changed during the install: '$before' -> '$after'" >&2
fi
"$PYTHON" -c 'import mediapipe; from mediapipe.tasks.python import vision' \
  || { echo "mediapipe ${MEDIAPIPE_VERSION} does not import" >&2; exit 1; }
"$PYTHON" -m anyhand_hf.detect prepare "$@"
