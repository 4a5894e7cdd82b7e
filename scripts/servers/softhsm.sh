#!/usr/bin/env bash
# Throwaway SoftHSM2 token for tests: a PKCS#11 HSM in software (Debian's softhsm2).
#   softhsm.sh install              apt-get install softhsm2 (skipped when present)
#   softhsm.sh start STATE_DIR      a fresh token "passerelle" in STATE_DIR/softhsm/tokens,
#                                   its own softhsm2.conf, and STATE_DIR/softhsm.env
#   softhsm.sh stop STATE_DIR       remove the token (nothing runs: the module is a library)
# The PINs are fixed test values (like Azurite's well-known key): never use them for a real token.
set -euo pipefail

NAME=softhsm
LABEL=passerelle
PIN=4711-test-user-pin
SO_PIN=4711-test-security-officer-pin
LOG=""

# shellcheck source=scripts/servers/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

module() {
  local m
  for m in /usr/lib/softhsm/libsofthsm2.so /usr/lib/*/softhsm/libsofthsm2.so; do
    [[ -f "$m" ]] && { echo "$m"; return 0; }
  done
  return 1
}
installed() { command -v softhsm2-util >/dev/null && module >/dev/null; }

do_install() {
  if installed; then log "softhsm2 already installed ($(module))"; return 0; fi
  [[ "$(id -u)" == 0 ]] || die "installing softhsm2 needs root"
  log "installing softhsm2 with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  timeout 600 apt-get update -q </dev/null >&2 || die "apt-get update failed"
  timeout 900 apt-get install -y -q --no-install-recommends softhsm2 </dev/null >&2 || die "apt-get install failed"
  installed || die "softhsm2-util or libsofthsm2.so missing after install"
  log "installed ($(module))"
}

do_stop() {
  local dir="$1/$NAME"
  if [[ -d "$dir" ]]; then log "removing the token in $dir"; rm -rf "$dir"; else log "not running"; fi
  rm -f "$1/$NAME.env"
}

do_start() {
  local state dir conf
  state="$(abspath "$1")"; dir="$state/$NAME"; conf="$dir/softhsm2.conf"; LOG="$dir/init.log"
  installed || do_install
  do_stop "$state" 2>/dev/null
  mkdir -p "$dir/tokens"; chmod 700 "$dir"
  cat >"$conf" <<EOF
directories.tokendir = $dir/tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false
slots.mechanisms = ALL
library.reset_on_fork = false
EOF
  log "initializing token '$LABEL' in $dir/tokens"
  SOFTHSM2_CONF="$conf" timeout 60 softhsm2-util --init-token --free --label "$LABEL" \
    --pin "$PIN" --so-pin "$SO_PIN" >"$LOG" 2>&1 || die "softhsm2-util --init-token failed"
  SOFTHSM2_CONF="$conf" softhsm2-util --show-slots 2>>"$LOG" | grep -q "Label:.*$LABEL" ||
    die "the token '$LABEL' is not listed after initialization"
  {
    echo "export SOFTHSM2_CONF=$conf"
    echo "export PASSERELLE_TEST_PKCS11_MODULE=$(module)"
    echo "export PASSERELLE_TEST_PKCS11_TOKEN=$LABEL"
    echo "export PASSERELLE_TEST_PKCS11_PIN=$PIN"
  } >"$state/$NAME.env.tmp"
  mv "$state/$NAME.env.tmp" "$state/$NAME.env"
  log "ready (module $(module)); env in $state/$NAME.env"
}

case "${1:-}" in
  install) do_install ;;
  start) [[ $# -ge 2 ]] || usage; do_start "$2" ;;
  stop) [[ $# -ge 2 ]] || usage; do_stop "$(abspath "$2")" ;;
  *) usage ;;
esac
