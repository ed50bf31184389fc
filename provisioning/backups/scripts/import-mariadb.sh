#!/usr/bin/env bash
# Restore Job, step 2 for a WooCommerce store: make its MariaDB database exactly the dump in
# $WORK_DIR/database (made by dump-mariadb.sh): drop every table, view, sequence, routine
# and event in DB_NAME (so nothing created after the backup survives), then import the dump.
# Needs only the store user's `GRANT ALL ON db.*`: no DROP/CREATE DATABASE. DEFINER clauses
# (views, triggers, routines, events) are left out on import, so the importing user becomes
# their definer: setting another definer would need SUPER, and the dump may come from another
# user. The dump is checked (gzip, "Dump completed" trailer) before anything is dropped.
#
# Env: DB_HOST, DB_PORT (3306), DB_NAME, DB_USER, DB_PASSWORD, WORK_DIR. Runs in the mariadb
# image. The password reaches the client through MYSQL_PWD, never its argv.
# On failure: one line on stderr starting with "restore:", exit 1. On success the last line of
# stdout is a summary.
set -euo pipefail

fail() { echo "restore: $*" >&2; exit 1; }
human() { awk -v b="$1" 'BEGIN { split("B KB MB GB TB", u, " "); i = 1
    while (b >= 1024 && i < 5) { b /= 1024; i++ }
    if (i == 1) printf "%d %s", b, u[i]; else printf "%.1f %s", b, u[i] }'; }
reason_of() { grep -v '^$' | tail -n 1 | sed 's/^ERROR [0-9]* ([0-9A-Z]*)\( at line [0-9]*\)\{0,1\} *: *//'; }

for var in DB_HOST DB_NAME DB_USER DB_PASSWORD WORK_DIR; do
    [[ -n "${!var:-}" ]] || fail "$var is not set"
done
port="${DB_PORT:-3306}"
where="$DB_HOST:$port"
dump="$WORK_DIR/database"
[[ -f "$dump" ]] || fail "$dump is missing (download.sh fetches it)"
client="$(command -v mariadb || command -v mysql || true)"
[[ -n "$client" ]] || fail "no mariadb (or mysql) client in this image"

export MYSQL_PWD="$DB_PASSWORD"
unset DB_PASSWORD
conn=(--host="$DB_HOST" --port="$port" --user="$DB_USER" --protocol=TCP --connect-timeout=30
    --default-character-set=utf8mb4 --max-allowed-packet=1G)
errors="$(mktemp)"
trap 'rm -f "$errors"' EXIT

gzip -t "$dump" 2>/dev/null || fail "the database dump is not a valid gzip file"
last="$(gzip -dc "$dump" | tail -n 1)"
[[ "$last" == "-- Dump completed"* ]] || fail "the database dump is truncated (no \"Dump completed\" line at its end)"

if ! out="$("$client" "${conn[@]}" --batch --skip-column-names -e "SELECT 1" "$DB_NAME" 2>&1)"; then
    fail "cannot connect to the database $DB_NAME at $where as $DB_USER ($(reason_of <<<"$out"))"
fi

# One DROP statement per object, written by the server (identifiers quoted with backticks).
drops="$("$client" "${conn[@]}" --batch --skip-column-names --raw "$DB_NAME" 2>"$errors" <<'SQL'
SELECT CONCAT('DROP ', IF(TABLE_TYPE = 'VIEW', 'VIEW', IF(TABLE_TYPE = 'SEQUENCE', 'SEQUENCE', 'TABLE')),
              ' IF EXISTS `', REPLACE(TABLE_NAME, '`', '``'), '`;')
  FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()
  ORDER BY TABLE_TYPE = 'VIEW' DESC;
SELECT CONCAT('DROP ', ROUTINE_TYPE, ' IF EXISTS `', REPLACE(ROUTINE_NAME, '`', '``'), '`;')
  FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE();
SELECT CONCAT('DROP EVENT IF EXISTS `', REPLACE(EVENT_NAME, '`', '``'), '`;')
  FROM information_schema.EVENTS WHERE EVENT_SCHEMA = DATABASE();
SQL
)" || fail "listing the objects of $DB_NAME at $where failed ($(reason_of <"$errors"))"
dropped="$(grep -c '^DROP' <<<"$drops" || true)"
if ! printf 'SET FOREIGN_KEY_CHECKS = 0;\n%s\n' "$drops" \
    | "$client" "${conn[@]}" "$DB_NAME" 2>"$errors"; then
    fail "emptying the database $DB_NAME at $where failed ($(reason_of <"$errors"))"
fi

# Data lines (extended INSERTs, one per line, strings escaped) are left alone.
# shellcheck disable=SC2016 # backticks of SQL identifiers, not a command substitution
if ! gzip -dc "$dump" | sed -e '/^INSERT INTO /!s/DEFINER=`[^`]*`@`[^`]*`//g' \
    | "$client" "${conn[@]}" --binary-mode "$DB_NAME" 2>"$errors"; then
    fail "importing the dump into $DB_NAME at $where failed ($(reason_of <"$errors"))"
fi
tables="$("$client" "${conn[@]}" --batch --skip-column-names -e \
    "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE'" \
    "$DB_NAME" 2>/dev/null || echo "?")"
echo "imported database $DB_NAME from a $(human "$(wc -c <"$dump")") dump: $tables tables (replaced $dropped objects)"
