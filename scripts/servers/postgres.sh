#!/usr/bin/env bash
# Throwaway PostgreSQL on 127.0.0.1 for tests (trust auth, database passerelle_test).
#   postgres.sh install                  apt-get install postgresql (skipped when present)
#   postgres.sh start STATE_DIR [PORT]   initdb + start (default port 54329), write STATE_DIR/postgres.env
#   postgres.sh stop STATE_DIR           stop what start started
# Runs as the `postgres` OS user. The cluster lives in STATE_DIR/postgres/data, or in
# /tmp/passerelle-pg-PORT when `postgres` cannot reach STATE_DIR (or the socket path is too long).
set -euo pipefail

NAME=postgres
DB=passerelle_test
LOG=""

# shellcheck source=scripts/servers/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
pgbin() { compgen -G '/usr/lib/postgresql/*/bin' | sort -V | tail -n 1; }
installed() { local b; b="$(pgbin)" && [[ -x "$b/postgres" && -x "$b/initdb" ]] && id postgres >/dev/null 2>&1; }
as_pg() { (cd / && timeout "$1" runuser -u postgres -- "${@:2}"); }

do_install() {
  if installed; then log "postgresql already installed ($(pgbin))"; return 0; fi
  [[ "$(id -u)" == 0 ]] || die "installing postgresql needs root"
  log "installing postgresql with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  timeout 600 apt-get update -q </dev/null >&2 || die "apt-get update failed"
  timeout 900 apt-get install -y -q --no-install-recommends postgresql </dev/null >&2 || die "apt-get install failed"
  installed || die "postgres binaries missing after install"
  log "installed ($(pgbin))"
}

do_stop() {
  local dir="$1/$NAME" data
  [[ -f "$dir/pgdata.path" ]] || { log "not running (no $dir/pgdata.path)"; return 0; }
  data="$(cat "$dir/pgdata.path")"
  if [[ -f "$data/postmaster.pid" ]] && installed; then
    log "stopping server in $data"
    as_pg 40 "$(pgbin)/pg_ctl" stop -D "$data" -m fast -w -t 30 >&2 ||
      log "WARNING: pg_ctl stop failed (pid $(head -n 1 "$data/postmaster.pid" 2>/dev/null || echo ?))"
  else
    log "not running"
  fi
}

do_start() {
  local state port="${2:-54329}" dir data bin
  state="$(realpath -m -- "$1")"; dir="$state/$NAME"
  [[ "$port" =~ ^[0-9]+$ && "$port" -ge 1024 && "$port" -le 65535 ]] || die "bad port: $port"
  [[ "$(id -u)" == 0 ]] || die "must run as root (starts postgres via runuser)"
  installed || do_install
  bin="$(pgbin)"
  do_stop "$state"
  port_open "$port" && die "127.0.0.1:$port is already in use"
  rm -rf "$dir" "$state/$NAME.env"; mkdir -p "$dir"
  data="$dir/data"
  # postgres must reach the data dir (every parent needs o+x) and the socket path must fit in 107 bytes.
  mkdir -p "$data"; chown postgres: "$data"; chmod 700 "$data"
  if ! as_pg 10 test -w "$data" || ((${#data} > 80)); then
    data="/tmp/passerelle-pg-$port"
    log "using $data (postgres cannot reach $dir, or its path is too long for the socket)"
    rm -rf "$dir/data" "$data"; mkdir -p "$data"; chown postgres: "$data"; chmod 700 "$data"
  fi
  echo "$data" >"$dir/pgdata.path"
  LOG="$dir/server.log"; touch "$LOG"; chown postgres: "$LOG"
  if ! as_pg 10 test -w "$LOG"; then # keep a link to the real log beside the env file
    rm -f "$LOG"; ln -s "$data.log" "$LOG"; LOG="$data.log"; rm -f "$LOG"; touch "$LOG"; chown postgres: "$LOG"
  fi
  log "initdb in $data"
  as_pg 120 "$bin/initdb" -D "$data" -U postgres -A trust -E UTF8 --locale=C --no-sync >>"$LOG" 2>&1 || die "initdb failed"
  log "starting on 127.0.0.1:$port"
  as_pg 60 "$bin/pg_ctl" start -D "$data" -l "$LOG" -w -t 45 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k '$data' -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
    >&2 || { do_stop "$state" >/dev/null 2>&1; die "pg_ctl start failed"; }
  as_pg 30 "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 -qAt \
    -c "CREATE DATABASE $DB" >>"$LOG" 2>&1 || { do_stop "$state" >/dev/null 2>&1; die "CREATE DATABASE failed"; }
  as_pg 10 "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -d "$DB" -qAt -c "SELECT 1" >/dev/null ||
    { do_stop "$state" >/dev/null 2>&1; die "cannot connect to $DB"; }
  echo "export PASSERELLE_TEST_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:$port/$DB" >"$state/$NAME.env.tmp"
  mv "$state/$NAME.env.tmp" "$state/$NAME.env"
  log "ready (pid $(head -n 1 "$data/postmaster.pid"), log $LOG); env in $state/$NAME.env"
}

case "${1:-}" in
  install) do_install ;;
  start) [[ $# -ge 2 ]] || usage; do_start "$2" "${3:-}" ;;
  stop) [[ $# -ge 2 ]] || usage; do_stop "$(realpath -m -- "$2")" ;;
  *) usage ;;
esac
