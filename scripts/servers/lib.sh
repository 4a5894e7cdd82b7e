# Helpers shared by the test-server scripts; source it after setting NAME (and LOG).
# shellcheck shell=bash

log() { echo "[$NAME] $*" >&2; }
die() {
  log "ERROR: $*"
  if [[ -n "${LOG:-}" && -f "$LOG" ]]; then log "--- tail of $LOG ---"; tail -n 40 "$LOG" >&2; fi
  exit 1
}
usage() { echo "usage: $0 install | start STATE_DIR [PORT] | stop STATE_DIR" >&2; exit 2; }
abspath() { realpath -m -- "$1"; }
alive() { kill -0 "$1" 2>/dev/null && ! grep -qs '^State:[[:space:]]*Z' "/proc/$1/status"; }
wait_gone() { for _ in $(seq 1 $(($2 * 10))); do alive "$1" || return 0; sleep 0.1; done; return 1; }
port_open() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

# stop_pidfile DIR MATCH GRACE: TERM the process in DIR/server.pid if its command
# line contains MATCH (guards against pid reuse), KILL it after GRACE seconds.
stop_pidfile() {
  local dir="$1" match="$2" grace="$3" pid
  [[ -f "$dir/server.pid" ]] || { log "not running (no pid file)"; return 0; }
  pid="$(cat "$dir/server.pid")"
  if [[ "$pid" =~ ^[0-9]+$ ]] && tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF -- "$match"; then
    log "stopping pid $pid"
    kill -TERM "$pid" 2>/dev/null || true
    if ! wait_gone "$pid" "$grace"; then
      log "still alive after ${grace}s, sending KILL"; kill -KILL "$pid" 2>/dev/null || true
      wait_gone "$pid" 5 || log "WARNING: pid $pid did not exit"
    fi
  else
    log "not running"
  fi
  rm -f "$dir/server.pid"
}
