#!/usr/bin/env bash
# The README's test command: install everything the tests need, start the real
# servers on 127.0.0.1 (Azurite, Ceph RGW, SeaweedFS, PostgreSQL) and a SoftHSM2 token (PKCS#11),
# run ruff, mypy, deptry, a
# plain-pip install of the wheel (synth + demo) and pytest,
# stop the servers.  Exits non-zero on any failure (and when no test ran).
#   bash scripts/test.sh [PYTEST ARGS...]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
log() { echo "[test] $*" >&2; }
SERVERS=(azurite ceph-rgw seaweedfs postgres softhsm)

# -- system packages (Ceph, SoftHSM2 and Chromium for the portal's browser tests from
# Debian; curl for readiness probes) ---------------------------------------------
need_apt=()
for pkg in ceph-mon ceph-osd radosgw ceph-common curl softhsm2 chromium; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need_apt+=("$pkg")
done
if ((${#need_apt[@]})); then
  log "apt-get install ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq "${need_apt[@]}" >&2
fi

# -- Python environment and server binaries ------------------------------------
bash scripts/install.sh
for s in "${SERVERS[@]}"; do
  if grep -q '^ *install)' "scripts/servers/$s.sh" 2>/dev/null; then bash "scripts/servers/$s.sh" install; fi
done

# -- servers --------------------------------------------------------------------
STATE="$(mktemp -d "${TMPDIR:-/tmp}/passerelle-test-XXXXXX")"
stop_all() {
  for s in "${SERVERS[@]}"; do bash "scripts/servers/$s.sh" stop "$STATE" >/dev/null 2>&1 || true; done
  rm -rf "$STATE"
}
trap stop_all EXIT
for s in "${SERVERS[@]}"; do
  log "starting $s"
  bash "scripts/servers/$s.sh" start "$STATE"
  # shellcheck disable=SC1090
  source "$STATE/$s.env"
done
export PASSERELLE_REQUIRE_SERVERS=1

# -- checks ---------------------------------------------------------------------
status=0
log "ruff"
.venv/bin/ruff check src tests || status=1
log "mypy"
.venv/bin/mypy src || status=1
log "deptry (every imported package declared, none unused)"
.venv/bin/deptry src || status=1
log "a newcomer's install: the wheel with plain pip, then synth and demo"
bash scripts/smoke-wheel.sh || status=1
log "pytest"
set +e
.venv/bin/python -m pytest "$@"
rc=$?
set -e
if [[ $rc -eq 5 ]]; then log "pytest collected no tests"; status=1
elif [[ $rc -ne 0 ]]; then status=1; fi
if [[ $status -ne 0 ]]; then log "FAILED"; else log "all checks passed"; fi
exit $status
