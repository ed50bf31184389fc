#!/usr/bin/env bash
# Build the real test node's binaries from Go modules (and one C file) and cache them.
#
# What: kubelet and kube-proxy (same Kubernetes release as the control plane, from the
# wrapper module tools/node/kube, a copy of tools/k8s/kube with kubelet/kube-proxy as tools,
# so the control plane's cache key is untouched), containerd, containerd-shim-runc-v2 and ctr
# (containerd v2 from its Go module; Debian's containerd 1.6 is unsupported by kubelet 1.36),
# and the pause binary (Kubernetes' build/pause/linux/pause.c, `gcc -static`).
# runc and the CNI plugins come from Debian (scripts/install-test-deps.sh), not from here.
#
# Usage: tools/node/build.sh           build if needed; last line of stdout = bin dir
#        tools/node/build.sh --key     print the cache key only
#        tools/node/build.sh --print   print the bin dir if cached, exit 1 otherwise
#
# Env:   STORE_PLATFORM_NODE_CACHE  cache root (default ~/.cache/store-platform/k8s-node;
#                                   ~/.cache/store-platform/node holds Node.js for Medusa)
#        GO                         go binary (default: go on PATH)
#
# Key: node-<k8s version>-<sha256 of VERSIONS, this script, kube/go.mod, kube/go.sum>.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

die() { echo "node/build.sh: error: $*" >&2; exit 1; }

# shellcheck disable=SC1091
source "$here/VERSIONS"
: "${KUBERNETES_VERSION:?missing in VERSIONS}" "${CONTAINERD_VERSION:?}" "${PAUSE_VERSION:?}" "${BUILD_REV:?}"

cache_key() {
    local sum
    sum="$(for f in VERSIONS build.sh kube/go.mod kube/go.sum; do printf '%s\n' "$f"; cat "$f"; done \
        | sha256sum | cut -c1-16)"
    echo "node-${KUBERNETES_VERSION}-${sum}"
}

BINARIES=(kubelet kube-proxy containerd containerd-shim-runc-v2 ctr pause)
cache_root="${STORE_PLATFORM_NODE_CACHE:-$HOME/.cache/store-platform/k8s-node}"
key="$(cache_key)"
dest="$cache_root/$key"

is_complete() {
    local b
    [[ -f "$dest/.complete" ]] || return 1
    for b in "${BINARIES[@]}"; do [[ -x "$dest/bin/$b" ]] || return 1; done
}

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

cp_version="$(sed -n 's/^KUBERNETES_VERSION=//p' "$here/../k8s/VERSIONS")"
[[ "$cp_version" == "$KUBERNETES_VERSION" ]] \
    || die "KUBERNETES_VERSION $KUBERNETES_VERSION differs from tools/k8s/VERSIONS ($cp_version)"

GO="${GO:-go}"
command -v "$GO" >/dev/null 2>&1 || die "go not found on PATH (need Go >= 1.26)"
command -v gcc >/dev/null 2>&1 || die "gcc not found (needed for the static pause binary)"

mkdir -p "$cache_root"
exec 9>"$cache_root/.build.lock"
flock 9
if is_complete; then
    echo "$dest/bin"
    exit 0
fi

start=$(date +%s)
tmp="$(mktemp -d "$cache_root/.tmp-$key.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/bin"
timings="$tmp/TIMINGS"
: >"$timings"

export CGO_ENABLED=0
step_start=$start
step() {
    local now; now=$(date +%s)
    echo "node/build.sh: [+$(( now - start ))s] $*" >&2
}
lap() {  # record how long the previous piece took
    local now; now=$(date +%s)
    echo "$1=$(( now - step_start ))" >>"$timings"
    step_start=$now
}

ver_flags=""
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ver_flags+=" -X $p.gitVersion=$KUBERNETES_VERSION -X $p.gitTreeState=clean"
    ver_flags+=" -X $p.gitMajor=$(cut -d. -f1 <<<"${KUBERNETES_VERSION#v}")"
    ver_flags+=" -X $p.gitMinor=$(cut -d. -f2 <<<"$KUBERNETES_VERSION")"
done

step "kubelet, kube-proxy $KUBERNETES_VERSION"
(cd kube && GOFLAGS="-mod=readonly -buildvcs=false" "$GO" build -trimpath \
    -ldflags "-s -w$ver_flags" -o "$tmp/bin/" \
    k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy) || die "kubelet build failed"
lap kubelet_kube_proxy

step "containerd, containerd-shim-runc-v2, ctr $CONTAINERD_VERSION"
cpkg=github.com/containerd/containerd/v2
# `go install pkg@version` builds with containerd's own go.mod (no wrapper module needed).
GOFLAGS="-buildvcs=false" GOBIN="$tmp/bin" "$GO" install -trimpath -tags "no_btrfs" \
    -ldflags "-s -w -X $cpkg/version.Version=$CONTAINERD_VERSION -X $cpkg/version.Package=$cpkg" \
    "$cpkg/cmd/containerd@$CONTAINERD_VERSION" \
    "$cpkg/cmd/containerd-shim-runc-v2@$CONTAINERD_VERSION" \
    "$cpkg/cmd/ctr@$CONTAINERD_VERSION" || die "containerd build failed"
lap containerd

step "pause $PAUSE_VERSION"
modcache="$("$GO" env GOMODCACHE)"
pause_c="$modcache/k8s.io/kubernetes@$KUBERNETES_VERSION/build/pause/linux/pause.c"
if [[ ! -f "$pause_c" ]]; then
    (cd kube && GOFLAGS="-mod=readonly" "$GO" mod download "k8s.io/kubernetes") || die "cannot download k8s.io/kubernetes"
fi
[[ -f "$pause_c" ]] || die "missing $pause_c"
gcc -Os -Wall -Werror -static -DVERSION="v$PAUSE_VERSION-store-platform" -o "$tmp/bin/pause" "$pause_c" \
    || die "pause build failed (needs libc6-dev for a static link)"
lap pause

"$tmp/bin/kubelet" --version 2>/dev/null | grep -q "$KUBERNETES_VERSION" \
    || die "kubelet does not report $KUBERNETES_VERSION (version stamping broken)"
"$tmp/bin/containerd" --version | grep -q "$CONTAINERD_VERSION" \
    || die "containerd does not report $CONTAINERD_VERSION"

cp VERSIONS "$tmp/VERSIONS"
touch "$tmp/.complete"
rm -rf "$dest"
mv "$tmp" "$dest"
trap - EXIT
chmod 755 "$dest"

elapsed=$(( $(date +%s) - start ))
echo "node/build.sh: built ${BINARIES[*]} in ${elapsed}s into $dest/bin ($(tr '\n' ' ' <"$dest/TIMINGS"))" >&2
echo "cold build took ${elapsed}s"
echo "$dest/bin"
