#!/usr/bin/env bash
# Install passerelle and its Python dependencies (from uv.lock) into .venv.
#   bash scripts/install.sh          the package and its runtime + dev dependencies
set -euo pipefail
cd "$(dirname "$0")/.."
log() { echo "[install] $*" >&2; }
if ! command -v uv >/dev/null 2>&1; then
  log "installing uv"
  python3 -m pip install --quiet --disable-pip-version-check uv >&2 \
    || python3 -m pip install --quiet --disable-pip-version-check --user uv >&2
fi
UV="$(command -v uv || echo "$HOME/.local/bin/uv")"
log "syncing .venv from uv.lock"
# Byte-compiled once here: where PYTHONDONTWRITEBYTECODE is set, every process
# start would otherwise compile every module it imports again.
"$UV" sync --frozen --quiet --compile-bytecode >&2
.venv/bin/python -m compileall -q src >/dev/null 2>&1 || true
