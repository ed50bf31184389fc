#!/usr/bin/env bash
# Build Traefik (the real test node's ingress controller) from its Go module and cache it.
#
# What: `go build ./cmd/traefik` in a copy of the module github.com/traefik/traefik/v3 at
# $TRAEFIK_VERSION, fetched with `go mod download` (Traefik's own go.mod and go.sum).
# `go install ...@version` cannot build it: its go.mod has replace directives, one of them
# to a nested module (./pkg/config/dynamic/ext, module github.com/traefik/traefik/dynamic/ext)
# that the module zip leaves out and the proxy does not serve. Upstream that module is the
# open-source build's empty extension point (`type HTTP struct{}`, `type Router struct{}`),
# so this script writes it back with those two empty types. The web UI is embedded from
# webui/static, which the module zip does carry (the dashboard is not used here anyway).
# Two more source changes, because the Go module proxy answers 403 "not available" for
# some of Traefik's dependencies (checked 2026-11-27):
# - github.com/abbot/go-http-auth is replaced upstream by a containous fork at a pseudo-version
#   the proxy does not serve, and upstream v0.4.0 (which it does) lacks two of the fork's
#   functions (CheckSecret, RequireAuthStale). Rather than write password checks, this build
#   has no basicAuth/digestAuth middlewares: pkg/middlewares/auth's NewBasic and NewDigest
#   always return an error, so a router that asks for one fails to build and serves nothing
#   (fail closed). go.mod points the unused module at v0.4.0 so the module graph loads.
#   The tests use neither middleware;
# - lego's DNS-01 provider registry (github.com/go-acme/lego/v5/providers/dns) imports ~15
#   cloud SDKs the proxy does not serve; pkg/provider/acme imports a local stand-in whose
#   NewDNSChallengeProviderByName always fails. ACME with DNS-01 is unusable in this build
#   (no test issues certificates); HTTP-01/TLS-ALPN-01 and everything else are untouched.
# Its own script and cache key, so a Traefik bump never rebuilds kubelet or containerd
# (tools/node/build.sh). The cache sits under the node's cache root, so the real node's
# sweep (tests/harness/realnode.py) also kills a Traefik a killed run left behind.
#
# Usage: tools/node/traefik/build.sh           build if needed; last line of stdout = bin dir
#        tools/node/traefik/build.sh --key     print the cache key only
#        tools/node/traefik/build.sh --print   print the bin dir if cached, exit 1 otherwise
#
# Env:   STORE_PLATFORM_NODE_CACHE  cache root (default ~/.cache/store-platform/k8s-node)
#        GO                         go binary (default: go on PATH; Traefik 3.7 needs Go >= 1.26)
#
# Key: traefik-<version>-<sha256 of VERSION and this script>.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

die() { echo "traefik/build.sh: error: $*" >&2; exit 1; }

# shellcheck disable=SC1091
source "$here/VERSION"
: "${TRAEFIK_VERSION:?missing in VERSION}"

key="traefik-${TRAEFIK_VERSION}-$(cat VERSION build.sh | sha256sum | cut -c1-16)"
cache_root="${STORE_PLATFORM_NODE_CACHE:-$HOME/.cache/store-platform/k8s-node}"
dest="$cache_root/$key"

is_complete() { [[ -f "$dest/.complete" && -x "$dest/bin/traefik" ]]; }

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
exec 9>"$cache_root/.traefik-build.lock"
flock 9
if is_complete; then
    echo "$dest/bin"
    exit 0
fi

start=$(date +%s)
tmp="$(mktemp -d "$cache_root/.tmp-$key.XXXXXX")"
trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
mkdir -p "$tmp/bin"
mod=github.com/traefik/traefik/v3
echo "traefik/build.sh: go mod download $mod@$TRAEFIK_VERSION" >&2
src_dir="$(cd "$tmp" && GOFLAGS=-mod=mod "$GO" mod download -json "$mod@$TRAEFIK_VERSION" \
    | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
[[ -n "$src_dir" && -f "$src_dir/go.mod" ]] || die "go mod download gave no source dir"
cp -r "$src_dir" "$tmp/src"
chmod -R u+w "$tmp/src"
ext="$tmp/src/pkg/config/dynamic/ext"
grep -q '=> ./pkg/config/dynamic/ext' "$tmp/src/go.mod" || die "go.mod no longer replaces dynamic/ext: review this script"
if [[ ! -f "$ext/go.mod" ]]; then
    mkdir -p "$ext"
    printf 'module github.com/traefik/traefik/dynamic/ext\n\ngo 1.24.0\n' >"$ext/go.mod"
    cat >"$ext/ext.go" <<'GO'
// Package ext is the extension point of Traefik's dynamic configuration: empty in the
// open-source build (written by tools/node/traefik/build.sh, left out of the module zip).
package ext

// HTTP extends dynamic.HTTPConfiguration.
type HTTP struct{}

// Router extends dynamic.Router.
type Router struct{}
GO
fi
# go-http-auth: upstream v0.4.0 in place of the fork the proxy does not serve (not imported:
# see the auth middlewares below; only so that the module graph loads).
grep -q 'github.com/abbot/go-http-auth => github.com/containous/go-http-auth' "$tmp/src/go.mod" \
    || die "go.mod no longer replaces go-http-auth: review this script"
(cd "$tmp/src" && "$GO" mod edit -replace github.com/abbot/go-http-auth=github.com/abbot/go-http-auth@v0.4.0)
auth="$tmp/src/pkg/middlewares/auth"
[[ -f "$auth/basic_auth.go" && -f "$auth/digest_auth.go" ]] || die "auth middlewares moved: review this script"
grep -q '^func NewBasic(ctx context.Context, next http.Handler, authConfig dynamic.BasicAuth, name string) (http.Handler, error) {$' \
    "$auth/basic_auth.go" || die "NewBasic's signature changed: review this script"
grep -q '^func NewDigest(ctx context.Context, next http.Handler, authConfig dynamic.DigestAuth, name string) (http.Handler, error) {$' \
    "$auth/digest_auth.go" || die "NewDigest's signature changed: review this script"
rm "$auth/basic_auth.go" "$auth/digest_auth.go"
cat >"$auth/no_basic_digest_auth.go" <<'GO'
package auth

// Written by tools/node/traefik/build.sh: the HTTP auth library these middlewares use is not
// on the Go module proxy, so this build has neither; asking for one is an error.

import (
	"context"
	"fmt"
	"net/http"

	"github.com/traefik/traefik/v3/pkg/config/dynamic"
)

// NewBasic always fails: no basicAuth middleware in this build.
func NewBasic(ctx context.Context, next http.Handler, authConfig dynamic.BasicAuth, name string) (http.Handler, error) {
	return nil, fmt.Errorf("basicAuth middleware %s: not available in this Traefik build", name)
}

// NewDigest always fails: no digestAuth middleware in this build.
func NewDigest(ctx context.Context, next http.Handler, authConfig dynamic.DigestAuth, name string) (http.Handler, error) {
	return nil, fmt.Errorf("digestAuth middleware %s: not available in this Traefik build", name)
}
GO
# lego's DNS provider registry: a stand-in package that names no cloud SDK.
acme="$tmp/src/pkg/provider/acme/provider.go"
grep -q '^	"github.com/go-acme/lego/v5/providers/dns"$' "$acme" || die "acme provider's imports changed: review this script"
sed -i 's|^	"github.com/go-acme/lego/v5/providers/dns"$|	dns "github.com/traefik/traefik/v3/pkg/provider/acme/nodnsproviders"|' "$acme"
mkdir -p "$tmp/src/pkg/provider/acme/nodnsproviders"
cat >"$tmp/src/pkg/provider/acme/nodnsproviders/nodnsproviders.go" <<'GO'
// Package nodnsproviders stands in for lego's DNS-01 provider registry in this build
// (tools/node/traefik/build.sh): the registry's cloud SDKs are not on the Go module proxy.
package nodnsproviders

import (
	"fmt"

	"github.com/go-acme/lego/v5/challenge"
)

// NewDNSChallengeProviderByName always fails: no DNS-01 provider is built in.
func NewDNSChallengeProviderByName(name string) (challenge.Provider, error) {
	return nil, fmt.Errorf("DNS challenge provider %q: this Traefik build has no DNS-01 providers", name)
}
GO
[[ -f "$tmp/src/webui/static/DONT-EDIT-FILES-IN-THIS-DIRECTORY.md" ]] || {
    mkdir -p "$tmp/src/webui/static"; echo placeholder >"$tmp/src/webui/static/index.html"; }
echo "traefik/build.sh: go build ./cmd/traefik" >&2
(cd "$tmp/src" && CGO_ENABLED=0 GOFLAGS="-buildvcs=false -mod=mod" "$GO" build -trimpath -o "$tmp/bin/traefik" \
    -ldflags "-s -w -X $mod/pkg/version.Version=$TRAEFIK_VERSION" ./cmd/traefik) \
    || die "traefik build failed"
reported="$("$tmp/bin/traefik" version 2>&1 || true)"
grep -q "$TRAEFIK_VERSION" <<<"$reported" || die "traefik does not report $TRAEFIK_VERSION: $reported"
chmod -R u+w "$tmp/src"
rm -rf "$tmp/src"

elapsed=$(( $(date +%s) - start ))
echo "traefik=$elapsed" >"$tmp/TIMINGS"
cp VERSION "$tmp/VERSION"
touch "$tmp/.complete"
rm -rf "$dest"
mv "$tmp" "$dest"
trap - EXIT
chmod 755 "$dest"
echo "traefik/build.sh: built traefik $TRAEFIK_VERSION in ${elapsed}s into $dest/bin" >&2
echo "$dest/bin"
