#!/usr/bin/env bash
# The int8 model on ai-edge-litert (this project's environment) and on tflite-runtime 2.14 (numpy<2, in
# a separate virtual environment, as on many Raspberry Pi images): outputs must agree face by face.
#   bash scripts/check_runtimes.sh [MODEL] [FACES_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
model="${1:-models/fer_compact_int8.tflite}"
faces="${2:-../shared/data/fer2013/test}"
python="${PYTHON:-python}"
venv="${TFLITE_RUNTIME_VENV:-.venv-tflite-runtime}"
[ -x "$venv/bin/python" ] || { python3 -m venv "$venv" &&
  "$venv/bin/pip" install --quiet "tflite-runtime==2.14.0" "numpy<2" "opencv-python-headless>=4.8,<5"; }
ref="$(mktemp --suffix=.npz)"
trap 'rm -f "$ref"' EXIT
"$python" scripts/check_runtimes.py "$model" "$faces" --interpreter ai-edge-litert --write "$ref"
"$venv/bin/python" scripts/check_runtimes.py "$model" "$faces" --interpreter tflite-runtime --compare "$ref"
