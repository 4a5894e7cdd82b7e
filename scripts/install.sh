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
"$UV" sync --frozen --quiet >&2
