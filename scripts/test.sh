#!/usr/bin/env bash
# One command that runs the tests: sets up what they need (Debian packages, venv,
# model, PostgreSQL and Redis), then runs the suite twice:
#   1. the embedded mode (SQLite, tasks in-process),
#   2. the services mode (PostgreSQL, Redis, real Celery worker processes).
# Extra arguments go to both pytest runs.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --dev
scripts/services.sh

export PYTHONDONTWRITEBYTECODE=1
echo ">> lint and types"
.venv/bin/ruff check .
.venv/bin/mypy

echo ">> tests, embedded mode"
env -u DATABASE_URL -u REDIS_URL .venv/bin/python -m pytest -m "not services" "$@"

echo ">> tests, services mode (PostgreSQL + Redis + Celery workers)"
DATABASE_URL=${TEST_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/avatar} \
REDIS_URL=${TEST_REDIS_URL:-redis://127.0.0.1:6379/14} \
  .venv/bin/python -m pytest -m "services or store" "$@"
