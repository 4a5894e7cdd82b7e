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

log() { echo "[$NAME] $*" >&2; }
die() {
  log "ERROR: $*"
  if [[ -n "$LOG" && -f "$LOG" ]]; then log "--- tail of $LOG ---"; tail -n 40 "$LOG" >&2; fi
  exit 1
}
usage() { echo "usage: $0 install | start STATE_DIR [PORT] | stop STATE_DIR" >&2; exit 2; }
abspath() { realpath -m -- "$1"; }
alive() { kill -0 "$1" 2>/dev/null && ! grep -qs '^State:[[:space:]]*Z' "/proc/$1/status"; }
wait_gone() { for _ in $(seq 1 $(($2 * 10))); do alive "$1" || return 0; sleep 0.1; done; return 1; }
port_open() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

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
  local dir="$1/$NAME" pid
  [[ -f "$dir/server.pid" ]] || { log "not running (no pid file)"; return 0; }
  pid="$(cat "$dir/server.pid")"
  # Only signal the process if it really is our Azurite (guards against pid reuse).
  if [[ "$pid" =~ ^[0-9]+$ ]] && tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF -- "$dir/data"; then
    log "stopping pid $pid"
    kill -TERM "$pid" 2>/dev/null || true
    if ! wait_gone "$pid" 10; then
      log "still alive after 10s, sending KILL"; kill -KILL "$pid" 2>/dev/null || true
      wait_gone "$pid" 5 || log "WARNING: pid $pid did not exit"
    fi
  else
    log "not running"
  fi
  rm -f "$dir/server.pid"
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
