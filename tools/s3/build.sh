#!/usr/bin/env bash
# Build versitygw (the S3-compatible server the backup tests store backups in) and cache it.
#
# What: `go build ./cmd/versitygw` in a copy of the module github.com/versity/versitygw at
# $VERSITYGW_VERSION (its own go.mod and go.sum), fetched with `go mod download`, unchanged.
# Why: backups go to an S3 bucket through presigned URLs (provisioning/backups/s3.py signs
# them, the Job's curl uses them), and only a real S3 implementation proves that the
# signatures, the expiry and the path binding hold. versitygw speaks the S3 API with SigV4
# (headers and query-string presigning) and its `posix` backend keeps each bucket as a
# directory, so a test needs nothing but a temporary directory and a port
# (tests/backups/servers.py). It builds with CGO off into one static binary.
# Build time on 2 cores: about 2 minutes when Go's build cache already holds the standard
# library and the shared dependencies (104 to 126 s measured), up to 7 minutes with an empty
# GOCACHE (433 s measured, machine busy); seconds when only this script changed. The cache
# dir's TIMINGS says how long its build took.
# Its own script and cache key, so a bump rebuilds nothing else.
#
# Usage: tools/s3/build.sh           build if needed; last line of stdout = bin dir
#        tools/s3/build.sh --key     print the cache key only
#        tools/s3/build.sh --print   print the bin dir if cached, exit 1 otherwise
#
# Env:   STORE_PLATFORM_S3_CACHE  cache root (default ~/.cache/store-platform/s3)
#        GO                       go binary (default: go on PATH, else /usr/local/go/bin/go)
#
# Key: versitygw-<version>-<sha256 of VERSION and this script>.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

die() { echo "s3/build.sh: error: $*" >&2; exit 1; }

# shellcheck disable=SC1091
source "$here/VERSION"
: "${VERSITYGW_VERSION:?missing in VERSION}"

key="versitygw-${VERSITYGW_VERSION}-$(cat VERSION build.sh | sha256sum | cut -c1-16)"
cache_root="${STORE_PLATFORM_S3_CACHE:-$HOME/.cache/store-platform/s3}"
dest="$cache_root/$key"

is_complete() { [[ -f "$dest/.complete" && -x "$dest/bin/versitygw" ]]; }

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

if [[ -z "${GO:-}" ]]; then
    GO=go
    command -v go >/dev/null 2>&1 || GO=/usr/local/go/bin/go
fi
command -v "$GO" >/dev/null 2>&1 || die "go not found on PATH (nor /usr/local/go/bin/go)"
mkdir -p "$cache_root"
exec 9>"$cache_root/.versitygw-build.lock"
flock 9
if is_complete; then
    echo "$dest/bin"
    exit 0
fi

start=$(date +%s)
tmp="$(mktemp -d "$cache_root/.tmp-$key.XXXXXX")"
trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
mkdir -p "$tmp/bin"
mod=github.com/versity/versitygw
echo "s3/build.sh: go mod download $mod@$VERSITYGW_VERSION" >&2
src_dir="$(cd "$tmp" && GOFLAGS=-mod=mod "$GO" mod download -json "$mod@$VERSITYGW_VERSION" \
    | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
[[ -n "$src_dir" && -f "$src_dir/go.mod" ]] || die "go mod download gave no source dir"
cp -r "$src_dir" "$tmp/src"
chmod -R u+w "$tmp/src"
[[ -d "$tmp/src/cmd/versitygw" ]] || die "the module has no cmd/versitygw: review this script"
echo "s3/build.sh: go build ./cmd/versitygw" >&2
(cd "$tmp/src" && CGO_ENABLED=0 GOFLAGS="-buildvcs=false -mod=mod" "$GO" build -trimpath \
    -o "$tmp/bin/versitygw" -ldflags "-s -w -X main.Version=$VERSITYGW_VERSION" ./cmd/versitygw) || die "versitygw build failed"
usage="$("$tmp/bin/versitygw" posix --help 2>&1 || true)"
grep -q -- 'posix' <<<"$usage" || die "versitygw has no posix backend: $usage"
grep -q -- "$VERSITYGW_VERSION" <<<"$("$tmp/bin/versitygw" --version 2>&1)" || die "versitygw --version is not $VERSITYGW_VERSION"
chmod -R u+w "$tmp/src"
rm -rf "$tmp/src"

elapsed=$(( $(date +%s) - start ))
echo "versitygw=$elapsed" >"$tmp/TIMINGS"
cp VERSION "$tmp/VERSION"
touch "$tmp/.complete"
rm -rf "$dest"
mv "$tmp" "$dest"
trap - EXIT
chmod 755 "$dest"
echo "s3/build.sh: built versitygw $VERSITYGW_VERSION in ${elapsed}s into $dest/bin" >&2
echo "$dest/bin"
