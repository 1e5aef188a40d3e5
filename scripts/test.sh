#!/usr/bin/env bash
# One command that runs the tests: sets up what they need (Debian packages, venv,
# model, PostgreSQL and Redis, the GPU stack in .venv-gpu), then runs the suite:
#   1. the embedded mode (SQLite, tasks in-process), light stack,
#   2. the services mode (PostgreSQL, Redis, real Celery worker processes),
#   3. the heavy engines (RuBERT, XTTS, Silero paths) in .venv-gpu, on the CPU.
# Extra arguments go to every pytest run.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --dev
scripts/services.sh

export PYTHONDONTWRITEBYTECODE=1
# The end-to-end turns run the real 1.5B model on a shared 2-core machine, where a
# reply can take longer than the 30 s production limit; the limit itself is tested
# with short deadlines of its own.
export AVATAR_LLM_TIMEOUT_S=${AVATAR_LLM_TIMEOUT_S:-120}
echo ">> lint and types"
.venv/bin/ruff check .
.venv/bin/mypy

echo ">> tests, embedded mode"
env -u DATABASE_URL -u REDIS_URL .venv/bin/python -m pytest -m "not services and not heavy" "$@"

echo ">> tests, services mode (PostgreSQL + Redis + Celery workers)"
DATABASE_URL=${TEST_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/avatar} \
REDIS_URL=${TEST_REDIS_URL:-redis://127.0.0.1:6379/14} \
  .venv/bin/python -m pytest -m "services or store" "$@"

echo ">> tests, heavy engines (.venv-gpu: torch, transformers, coqui-tts)"
scripts/setup-gpu.sh
env -u DATABASE_URL -u REDIS_URL .venv-gpu/bin/python -m pytest -m heavy "$@"
