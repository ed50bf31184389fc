#!/usr/bin/env bash
# Build CoreDNS (cluster DNS of the real test node) from its Go module and cache it.
#
# What: cmd/, a main package that imports CoreDNS v$COREDNS_VERSION's coremain and the
# plugins the node's Corefile uses (CoreDNS's compile-time plugin selection; cmd/go.sum pins
# every module). 595 packages besides the standard library, against 1,170 for the full
# `github.com/coredns/coredns` with every in-tree plugin (the cloud DNS SDKs, tracing, etcd).
# Its own script and cache key, so a CoreDNS bump never rebuilds kubelet or containerd
# (tools/node/build.sh). The cache sits under the node's cache root, so the real node's
# sweep (tests/harness/realnode.py) also kills a CoreDNS a killed run left behind.
#
# Usage: tools/node/coredns/build.sh           build if needed; last line of stdout = bin dir
#        tools/node/coredns/build.sh --key     print the cache key only
#        tools/node/coredns/build.sh --print   print the bin dir if cached, exit 1 otherwise
#
# Env:   STORE_PLATFORM_NODE_CACHE  cache root (default ~/.cache/store-platform/k8s-node)
#        GO                         go binary (default: go on PATH; CoreDNS 1.15 needs Go >= 1.26)
#
# Key: coredns-<version>-<sha256 of VERSION, this script and cmd/>.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

die() { echo "coredns/build.sh: error: $*" >&2; exit 1; }

# shellcheck disable=SC1091
source "$here/VERSION"
: "${COREDNS_VERSION:?missing in VERSION}"

key="coredns-${COREDNS_VERSION}-$(cat VERSION build.sh cmd/go.mod cmd/go.sum cmd/main.go | sha256sum | cut -c1-16)"
cache_root="${STORE_PLATFORM_NODE_CACHE:-$HOME/.cache/store-platform/k8s-node}"
dest="$cache_root/$key"

is_complete() { [[ -f "$dest/.complete" && -x "$dest/bin/coredns" ]]; }

case "${1:-}" in
    --key) echo "$key"; exit 0 ;;
    --print) is_complete && { echo "$dest/bin"; exit 0; }; exit 1 ;;
    "") ;;
    *) die "unknown argument: $1" ;;
esac

if is_complete; then
    echo "$dest/bin"
    exit 0
fi

GO="${GO:-go}"
command -v "$GO" >/dev/null 2>&1 || die "go not found on PATH (need Go >= 1.26)"
mkdir -p "$cache_root"
exec 9>"$cache_root/.coredns-build.lock"
flock 9
if is_complete; then
    echo "$dest/bin"
    exit 0
fi

start=$(date +%s)
tmp="$(mktemp -d "$cache_root/.tmp-$key.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/bin"
pkg=github.com/coredns/coredns
grep -q "$pkg $COREDNS_VERSION" cmd/go.mod || die "cmd/go.mod does not require $pkg $COREDNS_VERSION"
echo "coredns/build.sh: go build ./cmd (CoreDNS $COREDNS_VERSION, the node's plugins)" >&2
(cd cmd && CGO_ENABLED=0 GOFLAGS="-buildvcs=false -mod=readonly" "$GO" build -trimpath \
    -ldflags "-s -w -X $pkg/coremain.GitCommit=$COREDNS_VERSION" -o "$tmp/bin/coredns" .) \
    || die "coredns build failed"
"$tmp/bin/coredns" -version | grep -q "CoreDNS-${COREDNS_VERSION#v}" \
    || die "coredns does not report ${COREDNS_VERSION#v}"
plugins="$("$tmp/bin/coredns" -plugins)"
for plugin in bind errors ready kubernetes cache loadbalance template; do  # the node's Corefile
    grep -qx "$plugin" <<<"$plugins" || die "coredns has no $plugin plugin"
done
! grep -qx route53 <<<"$plugins" || die "coredns was built with every plugin, not the node's (cmd/)"

elapsed=$(( $(date +%s) - start ))
echo "coredns=$elapsed" >"$tmp/TIMINGS"
cp VERSION "$tmp/VERSION"
touch "$tmp/.complete"
rm -rf "$dest"
mv "$tmp" "$dest"
trap - EXIT
chmod 755 "$dest"
echo "coredns/build.sh: built coredns $COREDNS_VERSION in ${elapsed}s into $dest/bin" >&2
echo "$dest/bin"
