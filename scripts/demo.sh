#!/usr/bin/env bash
# The README's first command: install passerelle, then run `passerelle demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
exec .venv/bin/passerelle demo "$@"
