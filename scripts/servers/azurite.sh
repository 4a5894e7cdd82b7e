#!/usr/bin/env bash
# Throwaway Azurite (Azure Blob emulator) on 127.0.0.1 for tests.
#   azurite.sh install                  npm-install Azurite into $PASSERELLE_TOOLS (skipped when present)
#   azurite.sh start STATE_DIR [PORT]   start (default port 10000), write STATE_DIR/azurite.env
#   azurite.sh stop STATE_DIR           stop what start started
set -euo pipefail

NAME=azurite
VERSION=3.35.0 # newest Azurite that runs on Node 20
TOOLS="${PASSERELLE_TOOLS:-$HOME/.cache/passerelle-tools}"
PREFIX="$TOOLS/azurite"
BIN="$PREFIX/node_modules/.bin/azurite-blob"
# Azurite's public, well-known development account key (not a secret).
KEY='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='
LOG=""

# shellcheck source=scripts/servers/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

installed() {
  [[ -x "$BIN" ]] && grep -q "\"version\": \"$VERSION\"" "$PREFIX/node_modules/azurite/package.json" 2>/dev/null
}

do_install() {
  if installed; then log "azurite $VERSION already installed in $PREFIX"; return 0; fi
  command -v npm >/dev/null || die "npm not found (Node 20 + npm required)"
  log "installing azurite@$VERSION into $PREFIX"
  mkdir -p "$PREFIX"; [[ -f "$PREFIX/package.json" ]] || echo '{"private": true}' >"$PREFIX/package.json"
  # Run inside $PREFIX instead of using --prefix: --prefix also moves npm's global config
  # (where this machine's cafile lives) to $PREFIX/etc/npmrc.
  (cd "$PREFIX" && timeout 600 npm install --save-exact --no-audit --no-fund \
    --loglevel=error "azurite@$VERSION" </dev/null >&2) || die "npm install failed"
  installed || die "azurite-blob missing after install"
  log "installed"
}

do_stop() {
  local dir="$1/$NAME"
  stop_pidfile "$dir" "$dir/data" 10
}

do_start() {
  local state port="${2:-10000}" dir pid code=000
  state="$(abspath "$1")"; dir="$state/$NAME"; LOG="$dir/server.log"
  [[ "$port" =~ ^[0-9]+$ && "$port" -ge 1024 && "$port" -le 65535 ]] || die "bad port: $port"
  installed || do_install
  do_stop "$state"
  port_open "$port" && die "127.0.0.1:$port is already in use"
  rm -rf "$dir" "$state/$NAME.env"; mkdir -p "$dir/data"
  log "starting on 127.0.0.1:$port (data in $dir/data)"
  nohup "$BIN" --blobHost 127.0.0.1 --blobPort "$port" --location "$dir/data" --silent --loose \
    --skipApiVersionCheck --disableTelemetry </dev/null >"$LOG" 2>&1 &
  pid=$!; echo "$pid" >"$dir/server.pid"
  for _ in $(seq 1 300); do # up to ~60 s
    alive "$pid" || die "azurite exited during startup"
    # Any HTTP answer (an unsigned request gets 403) means the blob service is serving.
    code="$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$port/devstoreaccount1?comp=list" || true)"
    [[ "$code" != 000 ]] && break
    sleep 0.2
  done
  [[ "$code" != 000 ]] || { do_stop "$state" >/dev/null 2>&1; die "no answer on port $port after 60s"; }
  cat >"$state/$NAME.env.tmp" <<EOF
export PASSERELLE_TEST_AZURE_ENDPOINT=http://127.0.0.1:$port/devstoreaccount1
export PASSERELLE_TEST_AZURE_ACCOUNT=devstoreaccount1
export PASSERELLE_TEST_AZURE_KEY=$KEY
EOF
  mv "$state/$NAME.env.tmp" "$state/$NAME.env"
  log "ready (pid $pid, HTTP $code); env in $state/$NAME.env"
}

case "${1:-}" in
  install) do_install ;;
  start) [[ $# -ge 2 ]] || usage; do_start "$2" "${3:-}" ;;
  stop) [[ $# -ge 2 ]] || usage; do_stop "$(abspath "$2")" ;;
  *) usage ;;
esac
