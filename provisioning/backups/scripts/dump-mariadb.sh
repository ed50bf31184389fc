#!/usr/bin/env bash
# Backup Job, step 1 for a WooCommerce store: dump its MariaDB database to $WORK_DIR/database
# (gzipped SQL). Runs in the mariadb image (mariadb-dump, or mysqldump in older images).
#
# Env: DB_HOST, DB_PORT (3306), DB_NAME, DB_USER, DB_PASSWORD, WORK_DIR.
# The password reaches the client through MYSQL_PWD, never its argv (which `ps` shows).
# No --databases: the dump has no CREATE DATABASE/USE, so it imports into any database name
# (import-mariadb.sh). --single-transaction: a consistent InnoDB snapshot without locking.
# On failure: one line on stderr starting with "backup:", exit 1. On success the last line of
# stdout is a summary.
set -euo pipefail

fail() { echo "backup: $*" >&2; exit 1; }
human() { awk -v b="$1" 'BEGIN { split("B KB MB GB TB", u, " "); i = 1
    while (b >= 1024 && i < 5) { b /= 1024; i++ }
    if (i == 1) printf "%d %s", b, u[i]; else printf "%.1f %s", b, u[i] }'; }

for var in DB_HOST DB_NAME DB_USER DB_PASSWORD WORK_DIR; do
    [[ -n "${!var:-}" ]] || fail "$var is not set"
done
port="${DB_PORT:-3306}"
where="$DB_HOST:$port"
[[ -d "$WORK_DIR" ]] || fail "the work directory $WORK_DIR does not exist"

client="$(command -v mariadb || command -v mysql || true)"
dumper="$(command -v mariadb-dump || command -v mysqldump || true)"
[[ -n "$client" ]] || fail "no mariadb (or mysql) client in this image"
[[ -n "$dumper" ]] || fail "no mariadb-dump (or mysqldump) in this image"

export MYSQL_PWD="$DB_PASSWORD"
unset DB_PASSWORD
conn=(--host="$DB_HOST" --port="$port" --user="$DB_USER" --protocol=TCP)

# Connect first: a clear reason (access denied, unknown host, unknown database) before dumping.
if ! tables="$("$client" "${conn[@]}" --connect-timeout=30 --batch --skip-column-names -e \
    "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE'" \
    "$DB_NAME" 2>&1)"; then
    reason="$(printf '%s\n' "$tables" | grep -v '^$' | tail -n 1 | sed 's/^ERROR [0-9]* ([0-9A-Z]*) *: *//')"
    fail "cannot connect to the database $DB_NAME at $where as $DB_USER ($reason)"
fi

out="$WORK_DIR/database"
errors="$(mktemp)"
trap 'rm -f "$errors"' EXIT
if ! "$dumper" "${conn[@]}" --single-transaction --quick --routines --triggers --events --hex-blob \
    --default-character-set=utf8mb4 --no-tablespaces --max-allowed-packet=1G \
    "$DB_NAME" 2>"$errors" | gzip -6 >"$out"; then
    reason="$(grep -v '^$' "$errors" | tail -n 1 | sed 's/^[^:]*: //')"
    rm -f "$out"
    fail "dumping the database $DB_NAME at $where failed (${reason:-no error message})"
fi
# Warnings of a successful dump (none usually) stay visible in the Job's log.
cat "$errors" >&2
gzip -t "$out" 2>/dev/null || fail "the dump of $DB_NAME is not a valid gzip file (disk full?)"
bytes="$(wc -c <"$out")"
echo "dumped database $DB_NAME: ${tables} tables, $(human "$bytes") compressed"
