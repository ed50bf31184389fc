#!/usr/bin/env bash
# Build CoreDNS (cluster DNS of the real test node) from its Go module and cache it.
#
# What: `go install github.com/coredns/coredns@$COREDNS_VERSION` (CoreDNS's own go.mod and
# go.sum, every in-tree plugin; the `kubernetes` plugin is the one the node uses). Its own
# script and cache key, so a CoreDNS bump never rebuilds kubelet or containerd
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
# Key: coredns-<version>-<sha256 of VERSION and this script>.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

die() { echo "coredns/build.sh: error: $*" >&2; exit 1; }

# shellcheck disable=SC1091
source "$here/VERSION"
: "${COREDNS_VERSION:?missing in VERSION}"

key="coredns-${COREDNS_VERSION}-$(cat VERSION build.sh | sha256sum | cut -c1-16)"
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
echo "coredns/build.sh: go install $pkg@$COREDNS_VERSION" >&2
CGO_ENABLED=0 GOFLAGS="-buildvcs=false" GOBIN="$tmp/bin" "$GO" install -trimpath \
    -ldflags "-s -w -X $pkg/coremain.GitCommit=$COREDNS_VERSION" "$pkg@$COREDNS_VERSION" \
    || die "coredns build failed"
"$tmp/bin/coredns" -version | grep -q "CoreDNS-${COREDNS_VERSION#v}" \
    || die "coredns does not report ${COREDNS_VERSION#v}"
"$tmp/bin/coredns" -plugins | grep -qx "kubernetes" || die "coredns has no kubernetes plugin"

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
