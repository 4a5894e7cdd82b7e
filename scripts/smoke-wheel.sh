#!/usr/bin/env bash
# A newcomer's install, as CI plays it: build the wheel, `pip install` it into a fresh virtual
# environment (plain pip, no uv, no lock file), then run `passerelle synth` and `passerelle demo`
# from there. Fails when the package imports something it does not declare.
#   bash scripts/smoke-wheel.sh
set -euo pipefail
cd "$(dirname "$0")/.."
log() { echo "[smoke] $*" >&2; }
WORK="$(mktemp -d "${TMPDIR:-/tmp}/passerelle-smoke-XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
UV="$(command -v uv || echo "$HOME/.local/bin/uv")"

log "building the wheel"
"$UV" build --wheel --quiet --out-dir "$WORK/dist" >&2
log "pip install into a fresh venv"
python3 -m venv "$WORK/venv"
"$WORK/venv/bin/python" -m pip install --quiet --disable-pip-version-check "$WORK"/dist/*.whl >&2

cd "$WORK"  # away from the source tree, so only the installed package is importable
log "passerelle --help"
"$WORK/venv/bin/passerelle" --help >/dev/null
log "passerelle synth"
"$WORK/venv/bin/passerelle" synth --persons 500 --out "$WORK/incoming" >&2
log "passerelle demo"
"$WORK/venv/bin/passerelle" demo --workdir "$WORK/demo" --persons 500 --archive 20 >&2
log "the installed wheel runs synth and demo"
