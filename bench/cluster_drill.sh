#!/usr/bin/env bash
# Issue 13's "done when", tried as a new user would: an Azurite container of 4,003 objects
# (4,000 of 1-64 KiB and three of 101, 121 and 141 MiB) moved to Ceph RGW twice:
#   (A) `passerelle migrate run --workers 2` (a local Dask cluster), one worker process
#       killed with kill -9 mid-run (its nanny starts another);
#   (B) a `dask scheduler` and two `dask worker` processes, one killed with kill -9 mid-run;
# each followed by a second `run` (nothing left to copy) and `verify --deep` (must exit 0).
#   bash bench/cluster_drill.sh        (about 3 minutes; servers on their default ports)
set -uo pipefail
cd "$(dirname "$0")/.."
ST="$(mktemp -d "${TMPDIR:-/tmp}/passerelle-drill-XXXXXX")"
W="$ST/work"; mkdir -p "$W"
P=.venv/bin/passerelle; D=.venv/bin/dask
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  for s in azurite ceph-rgw; do bash "scripts/servers/$s.sh" stop "$ST" >/dev/null 2>&1; done
  rm -rf "$ST"
}
trap cleanup EXIT
for s in azurite ceph-rgw; do bash "scripts/servers/$s.sh" start "$ST" >/dev/null || exit 1; done
set -a; source "$ST/azurite.env"; source "$ST/ceph-rgw.env"; set +a
export PASSERELLE_CONFIG="$W/config.toml"
.venv/bin/python -c "
import os, sys; sys.path.insert(0, '.')
from tests.conftest import _config_text
open(os.environ['PASSERELLE_CONFIG'], 'w').write(_config_text(dict(os.environ)))"
.venv/bin/python - <<'PY'
import os, random
from concurrent.futures import ThreadPoolExecutor
from passerelle.storage import open_store
MiB = 1 << 20
s = open_store("az://azurite@drillsrc"); s.create_container()
rng = random.Random(13); blob = os.urandom(64 * 1024)
items = [(f"stays/{i // 500:02d}/{i:05d}.parquet", rng.randint(1, 64 * 1024)) for i in range(4000)]
items += [(f"imaging/scan-{i}.dcm", (101 + 20 * i) * MiB) for i in range(3)]
def put(item):
    key, n = item
    if n < 16 * MiB:
        s.put(key, (blob * (n // len(blob) + 1))[:n])
    else:
        c = os.urandom(MiB); s.put(key, (c for _ in range(n // MiB)), size=n)
with ThreadPoolExecutor(16) as pool:
    list(pool.map(put, items))
print("source:", len(items), "objects,", sum(n for _, n in items) // MiB, "MiB")
PY
done_count() { sqlite3 "$1" "select count(*) from objects where status='done'" 2>/dev/null || echo 0; }
status=0

echo "=== (A) migrate run --workers 2, one worker process killed ==="
$P migrate plan az://azurite@drillsrc s3://ceph@drilla -j "$W/a.db" >/dev/null
$P migrate run -j "$W/a.db" --workers 2 >"$W/a1.log" 2>&1 & RUN=$!
for _ in $(seq 1 300); do
  VICTIM=$(pgrep -P $RUN -f "spawn_main|forkserver" | head -1)
  [[ -n "$VICTIM" && "$(done_count "$W/a.db")" -gt 300 ]] && break; sleep 0.2
done
kill -9 "$VICTIM" && echo "kill -9 worker process $VICTIM at $(done_count "$W/a.db") objects done"
wait $RUN; echo "run 1 exit $?"; tail -4 "$W/a1.log"
$P migrate run -j "$W/a.db" --workers 2 >"$W/a2.log" 2>&1 || status=1; tail -1 "$W/a2.log"
$P migrate verify -j "$W/a.db" --deep || status=1

echo "=== (B) a dask scheduler and two dask workers, one killed with kill -9 ==="
$D scheduler --host 127.0.0.1 --port 8786 --no-dashboard >"$W/scheduler.log" 2>&1 & pids+=($!)
sleep 4
for n in 0 1; do
  $D worker tcp://127.0.0.1:8786 --host 127.0.0.1 --nthreads 4 --no-nanny --no-dashboard \
    --name "w$n" >"$W/w$n.log" 2>&1 & pids+=($!)
done
WORKER1=${pids[2]}
sleep 6
$P migrate plan az://azurite@drillsrc s3://ceph@drillb -j "$W/b.db" >/dev/null
$P migrate run -j "$W/b.db" --cluster tcp://127.0.0.1:8786 >"$W/b1.log" 2>&1 & RUN=$!
for _ in $(seq 1 300); do [[ "$(done_count "$W/b.db")" -gt 1000 ]] && break; sleep 0.2; done
kill -9 "$WORKER1" && echo "kill -9 dask worker w1 at $(done_count "$W/b.db") objects done"
wait $RUN; echo "run 1 exit $?"; tail -4 "$W/b1.log"
$P migrate run -j "$W/b.db" --cluster tcp://127.0.0.1:8786 >"$W/b2.log" 2>&1 || status=1
tail -1 "$W/b2.log"
$P migrate verify -j "$W/b.db" --deep || status=1
$P migrate status -j "$W/b.db"
echo "drill: $([[ $status -eq 0 ]] && echo passed || echo FAILED)"
exit $status
