#!/usr/bin/env bash
# Throwaway single-node Ceph cluster (1 mon, 1 memstore OSD, radosgw) with an
# S3 and Swift endpoint on 127.0.0.1, for tests. Everything lives under STATE_DIR/ceph-rgw.
#   ceph-rgw.sh start STATE_DIR [PORT]   -> writes STATE_DIR/ceph-rgw.env
#   ceph-rgw.sh stop  STATE_DIR
set -euo pipefail

ACCESS_KEY=passerelle-test-access
SECRET_KEY=passerelle-test-secret
SWIFT_USER=passerelle:swift # a Swift subuser of the same RGW user (tempauth, auth v1)
SWIFT_KEY=passerelle-test-swift-key
REGION=default # RGW's zonegroup name (RGW accepts any SigV4 region; this is the honest one)

log() { echo "ceph-rgw: $*" >&2; }
usage() { echo "usage: $0 start STATE_DIR [PORT] | stop STATE_DIR" >&2; exit 2; }
case "$#:${1:-}" in [23]:start | 2:stop) ;; *) usage ;; esac
CMD=$1 PORT=${3:-7480}
if [ "$CMD" = stop ] && [ ! -d "$2" ]; then log "nothing to stop in $2"; exit 0; fi
STATE=$(mkdir -p "$2" && cd "$2" && pwd)
D=$STATE/ceph-rgw
CONF=$D/ceph.conf

# A pid counts as alive unless gone or a zombie (some container inits reap slowly);
# ours() also checks it is a daemon of this cluster (pid files may be stale).
alive() { local st; st=$(ps -o stat= -p "$1" 2>/dev/null) && [ "${st:0:1}" != Z ]; }
ours() { alive "$1" && [[ "$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null)" == *"$CONF"* ]]; }

# Stop rgw, osd, then mon. rgw and osd get SIGKILL: a graceful radosgw shutdown
# takes ~5 s, and on SIGTERM memstore dumps all its in-RAM data to disk.
stop_daemons() {
  local name pid
  for name in rgw osd mon; do
    pid=$(cat "$D/run/$name.pid" 2>/dev/null || true)
    rm -f "$D/run/$name.pid"
    if [ -z "$pid" ] || ! ours "$pid"; then continue; fi
    kill -s "$([ $name = mon ] && echo TERM || echo KILL)" "$pid" 2>/dev/null || true
    for _ in $(seq 100); do alive "$pid" || break; sleep 0.1; done
    if alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; sleep 0.5; fi
  done
}

# fail MSG: show the tails of the logs relevant to the current step ($LOGS), clean up.
LOGS=""
fail() {
  log "FAILED: $*"
  for f in $LOGS; do echo "--- tail $D/log/$f" >&2; tail -n 30 "$D/log/$f" >&2 || true; done
  stop_daemons
  exit 1
}

# wait_for DESC SECONDS CMD...: retry CMD quietly until it succeeds; fail on
# timeout or as soon as a daemon we started (listed in $STARTED) has died.
STARTED=""
wait_for() {
  local desc=$1 end=$((SECONDS + $2)) name; shift 2
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $end ] || fail "timed out waiting for $desc"
    for name in $STARTED; do
      alive "$(cat "$D/run/$name.pid" 2>/dev/null || echo x)" || fail "$name daemon died"
    done
    sleep 0.2
  done
}

ceph_() { timeout 20 ceph -c "$CONF" --connect-timeout 10 "$@" </dev/null; }
osd_up() { ceph_ osd dump | grep -q '^osd.0 up'; }
# An authenticated, SigV4-signed (region $REGION) ListBuckets that must show our user.
# (curl 7.88 only signs correctly for RGW when given x-amz-content-sha256 explicitly.)
s3_ready() {
  curl -sf --noproxy '*' --max-time 5 --aws-sigv4 "aws:amz:$REGION:s3" --user "$ACCESS_KEY:$SECRET_KEY" \
    -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "http://127.0.0.1:$PORT/" | grep -q '<ID>passerelle</ID>'
}

# A Swift v1 (tempauth) login that returns a token and a storage URL.
swift_ready() {
  curl -sf --noproxy '*' --max-time 5 -o /dev/null -D - -H "X-Auth-User: $SWIFT_USER" -H "X-Auth-Key: $SWIFT_KEY" \
    "http://127.0.0.1:$PORT/auth/1.0" | grep -qi '^x-auth-token:'
}

if [ "$CMD" = stop ]; then stop_daemons; log "stopped"; exit 0; fi

# ---- start ----
T0=$EPOCHREALTIME
stop_daemons # a previous run in this STATE_DIR may have been left running
python3 -c 'import socket as S, sys; s = S.socket(); s.setsockopt(S.SOL_SOCKET, S.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))' "$PORT" 2>/dev/null || { log "port $PORT is already in use"; exit 1; }
rm -rf "$D" "$STATE/ceph-rgw.env"
mkdir -p "$D"/{mon,osd,rgw,log,run,crash}
MON_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
FSID=$(cat /proc/sys/kernel/random/uuid)
log "state in $D (mon port $MON_PORT, s3 port $PORT)"

cat >"$CONF" <<EOF
[global]
fsid = $FSID
mon host = [v2:127.0.0.1:$MON_PORT]
public addr = 127.0.0.1
cluster addr = 127.0.0.1
keyring = $D/keyring
run dir = $D/run
admin socket = $D/run/\$name.asok
log file = $D/log/\$name.log
mon cluster log file = $D/log/cluster.log
crash dir = $D/crash
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd crush chooseleaf type = 0
mon allow pool size one = true
mon warn on pool no redundancy = false
mon data avail crit = 1
# without this, each pool creation takes ~1 s and radosgw needs >12 s to answer
paxos propose interval = 0.05
[mon]
mon data = $D/mon
pid file = $D/run/mon.pid
[osd]
osd data = $D/osd
pid file = $D/run/osd.pid
osd objectstore = memstore
# memstore keeps objects in RAM; this is the capacity it advertises
memstore device bytes = 8589934592
[client.rgw.gw]
rgw data = $D/rgw
pid file = $D/run/rgw.pid
rgw frontends = beast endpoint=127.0.0.1:$PORT
# S3 and OpenStack Swift (with its v1 auth at /auth/1.0) on the same port
rgw enable apis = s3, swift, swift_auth, admin
# Free deleted objects' data within seconds, not hours: memstore keeps it in RAM.
rgw gc obj min wait = 2
rgw gc processor period = 5
rgw gc processor max time = 5
EOF

# cephx keys, all in one keyring that the mon imports at mkfs; then the monmap
KR=$D/keyring
ceph-authtool -C "$KR" --gen-key -n mon. --cap mon 'allow *' >/dev/null
ceph-authtool "$KR" --gen-key -n client.admin --cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' >/dev/null
ceph-authtool "$KR" --gen-key -n osd.0 --cap mon 'allow profile osd' --cap osd 'allow *' >/dev/null
ceph-authtool "$KR" --gen-key -n client.rgw.gw --cap mon 'allow rw' --cap osd 'allow rwx' >/dev/null
monmaptool --create --fsid "$FSID" --addv a "[v2:127.0.0.1:$MON_PORT]" "$D/monmap" >/dev/null

log "starting ceph-mon"
LOGS="startup.log mon.a.log"
ceph-mon -c "$CONF" -i a --mkfs --monmap "$D/monmap" --keyring "$KR" </dev/null >"$D/log/startup.log" 2>&1 \
  || fail "ceph-mon --mkfs"
ceph-mon -c "$CONF" -i a </dev/null >>"$D/log/startup.log" 2>&1 || fail "ceph-mon start"
STARTED="mon"
wait_for "the monitor" 15 ceph_ mon stat

log "starting ceph-osd (memstore)"
LOGS="startup.log osd.0.log mon.a.log"
OSD_UUID=$(cat /proc/sys/kernel/random/uuid)
[ "$(ceph_ osd new "$OSD_UUID")" = 0 ] || fail "ceph osd new did not allocate osd.0"
ceph-osd -c "$CONF" -i 0 --mkfs --osd-uuid "$OSD_UUID" </dev/null >>"$D/log/startup.log" 2>&1 || fail "ceph-osd --mkfs"
# a misspelt objectstore silently falls back to bluestore
[ "$(cat "$D/osd/type" 2>/dev/null)" = memstore ] || fail "OSD is not using memstore"
ceph-osd -c "$CONF" -i 0 </dev/null >>"$D/log/startup.log" 2>&1 || fail "ceph-osd start"
STARTED="mon osd"
wait_for "osd.0 up" 20 osd_up
# Ballast: memstore's byte count drifts below zero as objects are deleted (seen: -41,847
# bytes after a dozen 2,000-object write/delete rounds), and an unsigned wrap then reads
# as a full OSD that silently drops every write, so radosgw hangs. 64 MiB held from the
# start keeps the count positive.
ceph_ osd pool create ballast 1 1 >/dev/null 2>&1 || fail "ceph osd pool create ballast"
head -c 67108864 /dev/zero >"$D/ballast.bin"
timeout 30 rados -c "$CONF" -p ballast put ballast "$D/ballast.bin" </dev/null \
  >>"$D/log/startup.log" 2>&1 || fail "rados put ballast"
rm -f "$D/ballast.bin"

# Create the user before starting radosgw: radosgw-admin also creates the default
# realm/zonegroup/zone and pools, and racing a starting radosgw makes it fail to init.
log "creating S3 user"
LOGS="user-create.log osd.0.log"
# --max-buckets: the suite's S3 buckets and Swift containers count against one user (RGW's
# default is 1,000, which a day of test runs on one server reached).
timeout 20 radosgw-admin -c "$CONF" user create --uid=passerelle --display-name=passerelle \
  --access-key="$ACCESS_KEY" --secret="$SECRET_KEY" --max-buckets=100000 \
  </dev/null >"$D/log/user-create.log" 2>&1 \
  || fail "radosgw-admin user create"
timeout 20 radosgw-admin -c "$CONF" subuser create --uid=passerelle --subuser="$SWIFT_USER" --access=full \
  --key-type=swift --secret="$SWIFT_KEY" </dev/null >>"$D/log/user-create.log" 2>&1 \
  || fail "radosgw-admin subuser create"

log "starting radosgw on 127.0.0.1:$PORT"
LOGS="startup.log client.rgw.gw.log"
radosgw -c "$CONF" -n client.rgw.gw </dev/null >>"$D/log/startup.log" 2>&1 || fail "radosgw start"
STARTED="mon osd rgw"
wait_for "an authenticated S3 ListBuckets on port $PORT" 30 s3_ready
wait_for "a Swift v1 token on port $PORT" 15 swift_ready

cat >"$STATE/ceph-rgw.env" <<EOF
export PASSERELLE_TEST_CEPH_ENDPOINT=http://127.0.0.1:$PORT
export PASSERELLE_TEST_CEPH_ACCESS_KEY=$ACCESS_KEY
export PASSERELLE_TEST_CEPH_SECRET_KEY=$SECRET_KEY
export PASSERELLE_TEST_CEPH_REGION=$REGION
export PASSERELLE_TEST_SWIFT_AUTH_URL=http://127.0.0.1:$PORT/auth/1.0
export PASSERELLE_TEST_SWIFT_USER=$SWIFT_USER
export PASSERELLE_TEST_SWIFT_KEY=$SWIFT_KEY
EOF
log "ready in $(awk "BEGIN { printf \"%.1f\", $EPOCHREALTIME - $T0 }") s; env in $STATE/ceph-rgw.env"
