#!/usr/bin/env bash
# Installs what the test suite needs on a Debian machine: PostgreSQL, Redis, npm, Chromium, openssl.
# Idempotent and quick when everything is there. Needs root (or sudo) only to install.
set -euo pipefail

need=()
[ -d /usr/lib/postgresql ] && ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
# Redis and npm: tests/store_software runs a real Medusa store (npm fetches Medusa and the
# Node 22 binary from the npm registry; tools/medusa/build.sh builds it).
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v npm >/dev/null 2>&1 || need+=(npm)
# setpriv and unshare run the store as an unprivileged uid on a read-only filesystem.
command -v setpriv >/dev/null 2>&1 && command -v unshare >/dev/null 2>&1 || need+=(util-linux)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
# The backup tests (tests/backups) run the backup/restore scripts against a real MariaDB,
# the server and the client tools (mariadb-dump) of the WooCommerce stores' database image.
command -v mariadbd >/dev/null 2>&1 || need+=(mariadb-server)
command -v mariadb-dump >/dev/null 2>&1 || need+=(mariadb-client)
# busybox: the upload/download scripts also run under busybox sh and applets, as in the
# Alpine curl image of the backup Jobs.
command -v busybox >/dev/null 2>&1 || need+=(busybox)
command -v curl >/dev/null 2>&1 || need+=(curl)
# Emoji in status badges and screenshots; Chromium shows empty boxes without it.
[ -e /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ] || need+=(fonts-noto-color-emoji)
# The real test node (tests/harness/realnode.py): runc and the CNI plugins from Debian,
# mmdebstrap for the images (tools/images), nftables/iproute2/iptables for its network, and
# gcc with a static libc for the pause binary (tools/node/build.sh).
command -v runc >/dev/null 2>&1 || need+=(runc)
[ -x /usr/lib/cni/bridge ] || need+=(containernetworking-plugins)
command -v mmdebstrap >/dev/null 2>&1 || need+=(mmdebstrap)
command -v nft >/dev/null 2>&1 || need+=(nftables)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v iptables >/dev/null 2>&1 || need+=(iptables)
command -v gcc >/dev/null 2>&1 && [ -e /usr/lib/x86_64-linux-gnu/libc.a ] || need+=(gcc libc6-dev)

if [ ${#need[@]} -eq 0 ]; then
  echo "test dependencies present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "missing: ${need[*]} (install them, or run as root)" >&2
    exit 1
  fi
fi
echo "installing: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
$SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# Debian starts a cluster on install where it can; the tests run their own servers.
if command -v pg_lsclusters >/dev/null 2>&1; then
  $SUDO pg_ctlcluster --force "$(pg_lsclusters -h | awk 'NR==1{print $1}')" main stop 2>/dev/null || true
fi
# Likewise Redis: where an init system started it, stop it (the tests start their own).
if command -v redis-cli >/dev/null 2>&1 && redis-cli -p 6379 ping >/dev/null 2>&1; then
  $SUDO service redis-server stop >/dev/null 2>&1 || true
fi
# Likewise MariaDB (tests/backups starts its own mariadbd).
if command -v mariadb-admin >/dev/null 2>&1 && $SUDO mariadb-admin ping >/dev/null 2>&1; then
  $SUDO service mariadb stop >/dev/null 2>&1 || true
fi
echo "installed: ${need[*]}"
