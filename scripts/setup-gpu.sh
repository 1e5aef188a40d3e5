#!/usr/bin/env bash
# Installs the GPU stack (torch, transformers, coqui-tts, nvidia-ml-py) into its own
# virtualenv, .venv-gpu, on top of the light requirements: ~8 GB, a few minutes.
# The GPU worker (queue `gpu`) runs from it; see docs/engines.md.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv-gpu/bin/python ] || "$PY" -m venv .venv-gpu
STAMP=".venv-gpu/.installed-$(cat requirements.txt requirements-dev.txt requirements-gpu.txt | sha256sum | cut -c1-16)"
if [ ! -f "$STAMP" ]; then
  echo ">> installing the GPU stack into .venv-gpu"
  .venv-gpu/bin/python -m pip install -q --upgrade pip
  .venv-gpu/bin/python -m pip install -q -r requirements-dev.txt -r requirements-gpu.txt
  touch "$STAMP"
fi
