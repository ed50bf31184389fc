#!/usr/bin/env bash
# Build kube-network-policies (the real test node's NetworkPolicy enforcer) and cache it.
#
# What: `go build ./cmd` in a copy of the module sigs.k8s.io/kube-network-policies at
# $NETPOL_VERSION (its own go.mod and go.sum), fetched with `go mod download`. Upstream runs
# it as a DaemonSet: cmd/main.go only knows rest.InClusterConfig(). The harness runs it as a
# host process of the real node, so this script changes that one call to
# clientcmd.BuildConfigFromFlags("", $KUBECONFIG) (which still falls back to the in-cluster
# config when KUBECONFIG is empty). And it sends packets to its nfqueue with the nftables
# `queue` expression, which kernels built without CONFIG_NFT_QUEUE (this machine's) reject
# ("Could not process rule: No such file or directory"), so the script swaps that expression
# for xtables' NFQUEUE target through nft_compat (CONFIG_NETFILTER_XT_TARGET_NFQUEUE, the
# path iptables-nft takes): same queue number, same bypass flag, same rules otherwise.
# `nft list ruleset` shows it as `queue num N`. Its own script and cache key, so a bump
# never rebuilds kubelet or containerd (tools/node/build.sh). The cache sits under the node's
# cache root, so the real node's sweep (tests/harness/realnode.py) also kills an enforcer a
# killed run left behind.
#
# Usage: tools/node/netpol/build.sh           build if needed; last line of stdout = bin dir
#        tools/node/netpol/build.sh --key     print the cache key only
#        tools/node/netpol/build.sh --print   print the bin dir if cached, exit 1 otherwise
#
# Env:   STORE_PLATFORM_NODE_CACHE  cache root (default ~/.cache/store-platform/k8s-node)
#        GO                         go binary (default: go on PATH)
#
# Key: netpol-<version>-<sha256 of VERSION and this script>.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

die() { echo "netpol/build.sh: error: $*" >&2; exit 1; }

# shellcheck disable=SC1091
source "$here/VERSION"
: "${NETPOL_VERSION:?missing in VERSION}"

key="netpol-${NETPOL_VERSION}-$(cat VERSION build.sh | sha256sum | cut -c1-16)"
cache_root="${STORE_PLATFORM_NODE_CACHE:-$HOME/.cache/store-platform/k8s-node}"
dest="$cache_root/$key"

is_complete() { [[ -f "$dest/.complete" && -x "$dest/bin/kube-network-policies" ]]; }

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
command -v "$GO" >/dev/null 2>&1 || die "go not found on PATH"
mkdir -p "$cache_root"
exec 9>"$cache_root/.netpol-build.lock"
flock 9
if is_complete; then
    echo "$dest/bin"
    exit 0
fi

start=$(date +%s)
tmp="$(mktemp -d "$cache_root/.tmp-$key.XXXXXX")"
trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
mkdir -p "$tmp/bin"
mod=sigs.k8s.io/kube-network-policies
echo "netpol/build.sh: go mod download $mod@$NETPOL_VERSION" >&2
src_dir="$(cd "$tmp" && GOFLAGS=-mod=mod "$GO" mod download -json "$mod@$NETPOL_VERSION" \
    | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
[[ -n "$src_dir" && -f "$src_dir/go.mod" ]] || die "go mod download gave no source dir"
cp -r "$src_dir" "$tmp/src"
chmod -R u+w "$tmp/src"
main="$tmp/src/cmd/main.go"
grep -q 'config, err := rest.InClusterConfig()' "$main" || die "cmd/main.go changed: review this script"
sed -i -e 's|config, err := rest.InClusterConfig()|config, err := clientcmd.BuildConfigFromFlags("", os.Getenv("KUBECONFIG"))|' \
    -e 's|"k8s.io/client-go/rest"|"k8s.io/client-go/tools/clientcmd"|' "$main"
ctl="$tmp/src/pkg/networkpolicy/controller.go"
[[ "$(grep -c 'queue := &expr.Queue{Num: uint16(c.config.QueueID)}' "$ctl")" == 2 ]] \
    || die "controller.go's queue rules changed: review this script"
perl -0pi -e 's/queue := &expr\.Queue\{Num: uint16\(c\.config\.QueueID\)\}\n\tif c\.config\.FailOpen \{\n\t\tqueue\.Flag = expr\.QueueFlagBypass\n\t\}/queue := xtNFQueue(uint16(c.config.QueueID), c.config.FailOpen)/g' "$ctl"
[[ "$(grep -c 'queue := xtNFQueue(' "$ctl")" == 2 ]] || die "could not swap the queue expression"
cat >"$tmp/src/pkg/networkpolicy/xt_nfqueue.go" <<'GO'
package networkpolicy

// Written by tools/node/netpol/build.sh: the kernel here has no nft `queue` expression.

import (
	"encoding/binary"

	"github.com/google/nftables/expr"
	"github.com/google/nftables/xt"
)

// xtNFQueue is `queue num <num> [bypass]` as xtables' NFQUEUE target revision 3 (struct
// xt_NFQ_info_v3: queuenum, queues_total, flags; host byte order, padded to 8 bytes).
func xtNFQueue(num uint16, bypass bool) expr.Any {
	var flags uint16
	if bypass {
		flags = 0x1 // NFQ_FLAG_BYPASS
	}
	info := make(xt.Unknown, 8)
	binary.NativeEndian.PutUint16(info[0:], num)
	binary.NativeEndian.PutUint16(info[2:], 1)
	binary.NativeEndian.PutUint16(info[4:], flags)
	return &expr.Target{Name: "NFQUEUE", Rev: 3, Info: &info}
}
GO
echo "netpol/build.sh: go build ./cmd" >&2
(cd "$tmp/src" && CGO_ENABLED=0 GOFLAGS="-buildvcs=false -mod=mod" "$GO" build -trimpath \
    -o "$tmp/bin/kube-network-policies" -ldflags "-s -w" ./cmd) || die "kube-network-policies build failed"
usage="$("$tmp/bin/kube-network-policies" -h 2>&1 || true)"
grep -q -- '-nfqueue-id' <<<"$usage" || die "kube-network-policies has no -nfqueue-id flag: $usage"
chmod -R u+w "$tmp/src"
rm -rf "$tmp/src"

elapsed=$(( $(date +%s) - start ))
echo "netpol=$elapsed" >"$tmp/TIMINGS"
cp VERSION "$tmp/VERSION"
touch "$tmp/.complete"
rm -rf "$dest"
mv "$tmp" "$dest"
trap - EXIT
chmod 755 "$dest"
echo "netpol/build.sh: built kube-network-policies $NETPOL_VERSION in ${elapsed}s into $dest/bin" >&2
echo "$dest/bin"
