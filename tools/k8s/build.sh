#!/usr/bin/env bash
# Build the test control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
# kubectl, kwok, helm) from Go modules and cache the binaries outside the repo.
#
# Why: no machine here runs containers or may download release binaries, so the only way to
# get a real Kubernetes API server for tests is to compile it. The compile takes minutes, so
# the binaries are cached under a key derived from the pinned versions and the wrapper
# modules' go.mod/go.sum: a second run (or CI on the same machine) costs well under a second.
#
# Usage: tools/k8s/build.sh            build if needed; last line of stdout = bin dir
#        tools/k8s/build.sh --key      print the cache key only
#        tools/k8s/build.sh --print    print the bin dir if cached, exit 1 otherwise
#
# Env:   STORE_PLATFORM_K8S_CACHE  cache root (default ~/.cache/store-platform/k8s)
#        GO                        go binary (default: go on PATH)
#
# The cache key must stay in sync with tests/harness/binaries.py (cache_key()): it hashes
# tools/k8s/VERSIONS and every */go.mod, */go.sum, */*.go below tools/k8s, in sorted order.
# Bump BUILD_REV in VERSIONS when a build flag here changes.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

die() { echo "build.sh: error: $*" >&2; exit 1; }

# shellcheck disable=SC1091
source "$here/VERSIONS"
: "${KUBERNETES_VERSION:?missing in VERSIONS}" "${ETCD_VERSION:?}" "${KWOK_VERSION:?}"
: "${HELM_VERSION:?}" "${BUILD_REV:?}"

key_files() {
    # Sorted, relative to tools/k8s, byte order (LC_ALL=C) so python can reproduce it.
    {
        echo VERSIONS
        find . -mindepth 2 -maxdepth 2 -type f \( -name go.mod -o -name go.sum -o -name '*.go' \) \
            -printf '%P\n'
    } | LC_ALL=C sort
}

cache_key() {
    local f sum
    sum="$(key_files | while IFS= read -r f; do printf '%s\n' "$f"; cat "$f"; done \
        | sha256sum | cut -c1-16)"
    echo "k8s-${KUBERNETES_VERSION}-${sum}"
}

BINARIES=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok helm)
cache_root="${STORE_PLATFORM_K8S_CACHE:-$HOME/.cache/store-platform/k8s}"
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

GO="${GO:-go}"
command -v "$GO" >/dev/null 2>&1 || die "go not found on PATH (need Go >= 1.26)"
go_version="$("$GO" env GOVERSION)" || die "'$GO env GOVERSION' failed"
minor="$(sed -E 's/^go1\.([0-9]+).*/\1/' <<<"$go_version")"
[[ "$minor" =~ ^[0-9]+$ && "$minor" -ge 26 ]] || die "need Go >= 1.26, have $go_version"

mkdir -p "$cache_root"
# One builder at a time per cache root; a second caller waits and then finds the cache.
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

export CGO_ENABLED=0
# The go.sum files are committed: a build that needs to change them is a bug, not a fixup.
export GOFLAGS="-mod=readonly -buildvcs=false"

ver_flags=""
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ver_flags+=" -X $p.gitVersion=$KUBERNETES_VERSION -X $p.gitTreeState=clean"
    ver_flags+=" -X $p.gitMajor=$(cut -d. -f1 <<<"${KUBERNETES_VERSION#v}")"
    ver_flags+=" -X $p.gitMinor=$(cut -d. -f2 <<<"$KUBERNETES_VERSION")"
done

step() {
    local now; now=$(date +%s)
    echo "build.sh: [+$(( now - start ))s] $*" >&2
}

step "kube-apiserver, kube-controller-manager, kube-scheduler, kubectl $KUBERNETES_VERSION"
(cd kube && "$GO" build -trimpath -ldflags "-s -w$ver_flags" -o "$tmp/bin/" \
    k8s.io/kubernetes/cmd/kube-apiserver \
    k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler \
    k8s.io/kubernetes/cmd/kubectl) || die "kubernetes build failed"

step "etcd $ETCD_VERSION"
(cd etcd && "$GO" build -trimpath -ldflags "-s -w" -o "$tmp/bin/etcd" .) \
    || die "etcd build failed"

step "kwok $KWOK_VERSION"
(cd kwok && "$GO" build -trimpath \
    -ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION#v}" \
    -o "$tmp/bin/kwok" sigs.k8s.io/kwok/cmd/kwok) || die "kwok build failed"

step "helm $HELM_VERSION"
(cd helm && "$GO" build -trimpath \
    -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" \
    -o "$tmp/bin/helm" helm.sh/helm/v3/cmd/helm) || die "helm build failed"

"$tmp/bin/kubectl" version --client 2>/dev/null | grep -q "$KUBERNETES_VERSION" \
    || die "kubectl does not report $KUBERNETES_VERSION (version stamping broken)"

cp VERSIONS "$tmp/VERSIONS"
touch "$tmp/.complete"
rm -rf "$dest"
mv "$tmp" "$dest"
trap - EXIT
chmod 755 "$dest"

elapsed=$(( $(date +%s) - start ))
echo "build.sh: built ${BINARIES[*]} in ${elapsed}s into $dest/bin" >&2
echo "cold build took ${elapsed}s"
echo "$dest/bin"
