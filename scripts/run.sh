#!/usr/bin/env bash
# One command that sets up and starts the product on the embedded default:
# SQLite, in-memory channel layer, tasks in-process, offline engines.
#   scripts/run.sh            -> the avatar page on http://127.0.0.1:8000/
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
PORT=${PORT:-8000}
echo ">> open http://127.0.0.1:${PORT}/ and type in Russian"
echo "   (admin: http://127.0.0.1:${PORT}/admin/ after .venv/bin/python manage.py createsuperuser)"
exec .venv/bin/daphne -b 127.0.0.1 -p "$PORT" avatar_project.asgi:application
