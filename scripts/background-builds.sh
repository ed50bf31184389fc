#!/usr/bin/env bash
# The builds only some tests need, run beside the tests by `make test` so that a cold
# machine does not wait for all of them before the first test: the real node's pieces
# (kubelet and containerd, CoreDNS, kube-network-policies, Traefik), the S3 server, the
# Medusa store server and the images. Each one is cached by its own script (a second
# through the cache in well under a second), so on a warm machine this ends before pytest
# has collected.
#
# Usage: scripts/background-builds.sh DIR [go|store]   (both lanes when none is named)
#   DIR/<name>.log  each build's output
#   DIR/<name>.rc   its exit code, written when it ends (tests/shared/builds.py waits on it;
#                   tests/shared/scheduling.py sends the tests that need it last meanwhile)
# Each build's wall time is appended to $STORE_PLATFORM_PHASES (the closing report).
# Exit status: 0 when every build succeeded.
set -uo pipefail
cd "$(dirname "$0")/.."
dir=${1:?usage: scripts/background-builds.sh DIR}
mkdir -p "$dir"
py=${PY:-.venv/bin/python}

# step NAME COMMAND...: run it, note its time and exit code.
step() {
  local name=$1 started=$EPOCHREALTIME rc
  shift
  "$@" >"$dir/$name.log" 2>&1
  rc=$?
  if [ -n "${STORE_PLATFORM_PHASES:-}" ]; then
    printf '%s\t%s\n' "$name (beside the tests)" \
      "$(awk -v a="$started" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", b-a}')" >>"$STORE_PLATFORM_PHASES"
  fi
  echo "$rc" >"$dir/$name.rc.tmp" && mv "$dir/$name.rc.tmp" "$dir/$name.rc"
  return "$rc"
}

images() {
  local name
  for name in postgres-standin platform redis-standin medusa-store; do
    "$py" -m tools.images.build "$name" || return
  done
}

# Two lanes: Go compiles (CPU) and npm + mmdebstrap (network and disk) overlap well; `make
# test` starts the store lane once the Debian packages are in and the Go lane once the
# control plane is built (the node's build reuses its Go module and build caches).
# In the Go lane the S3 server comes first (cluster tests use it early), then the real
# node's pieces in the order its tests need them. A failed build does not stop the next.
go_lane() {
  local rc=0
  step s3 ./tools/s3/build.sh || rc=1
  step node ./tools/node/build.sh || rc=1
  step coredns ./tools/node/coredns/build.sh || rc=1
  step netpol ./tools/node/netpol/build.sh || rc=1
  step traefik ./tools/node/traefik/build.sh || rc=1
  return $rc
}

store_lane() {
  if ! step medusa ./tools/medusa/build.sh; then
    echo "not built: the Medusa build failed (medusa.log)" >"$dir/images.log"
    echo 1 >"$dir/images.rc"
    return 1
  fi
  step images images
}

case "${2:-both}" in
  go) go_lane ;;
  store) store_lane ;;
  both)
    go_lane & go=$!
    store_lane & store=$!
    wait $go; a=$?
    wait $store; b=$?
    [ $a -eq 0 ] && [ $b -eq 0 ]
    ;;
  *) echo "usage: scripts/background-builds.sh DIR [go|store]" >&2; exit 2 ;;
esac
