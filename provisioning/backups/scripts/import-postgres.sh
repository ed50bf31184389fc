#!/usr/bin/env bash
# Restore Job, step 2 for a Medusa store: make its PostgreSQL database exactly the dump in
# $WORK_DIR/database (made by dump-postgres.sh): drop every schema that is not the system's
# (public included, CASCADE: tables, sequences, views, functions, types, extensions in them),
# create an empty public schema, then pg_restore the dump in one transaction. Needs only the
# database owner's rights: no DROP/CREATE DATABASE. The dump is checked (pg_restore --list)
# before anything is dropped.
#
# Env: PGHOST, PGPORT (5432), PGDATABASE, PGUSER, PGPASSWORD, WORK_DIR (libpq reads them).
# On failure: one line on stderr starting with "restore:", exit 1. On success the last line of
# stdout is a summary.
set -euo pipefail

fail() { echo "restore: $*" >&2; exit 1; }
human() { awk -v b="$1" 'BEGIN { split("B KB MB GB TB", u, " "); i = 1
    while (b >= 1024 && i < 5) { b /= 1024; i++ }
    if (i == 1) printf "%d %s", b, u[i]; else printf "%.1f %s", b, u[i] }'; }
# libpq's and pg_restore's messages, reduced to the reason: the first error line (pg_restore
# follows it with the failed SQL), without the "psql: error:" prefix.
reason_of() {
    local text line
    text="$(cat)"
    line="$(grep -m 1 -E 'error:|ERROR:|FATAL:' <<<"$text" || true)"
    [[ -n "$line" ]] || line="$(grep -v '^[[:space:]]*$' <<<"$text" | tail -n 1)"
    sed -e 's/^psql:[^ ]*: //' -e 's/^[a-z_]*: error: //' -e 's/^[a-z_]*: //' \
        -e 's/connection to server at [^,]*, port [0-9]* failed: //' -e 's/could not execute query: //' \
        -e 's/FATAL: *//' -e 's/ERROR: *//' <<<"$line"
}

for var in PGHOST PGDATABASE PGUSER PGPASSWORD WORK_DIR; do
    [[ -n "${!var:-}" ]] || fail "$var is not set"
done
export PGPORT="${PGPORT:-5432}" PGCONNECT_TIMEOUT="${PGCONNECT_TIMEOUT:-30}"
where="$PGHOST:$PGPORT"
dump="$WORK_DIR/database"
[[ -f "$dump" ]] || fail "$dump is missing (download.sh fetches it)"
command -v pg_restore >/dev/null || fail "no pg_restore in this image"
command -v psql >/dev/null || fail "no psql in this image"
errors="$(mktemp)"
trap 'rm -f "$errors"' EXIT

pg_restore --list "$dump" >/dev/null 2>"$errors" \
    || fail "the database dump is not a readable pg_dump archive ($(reason_of <"$errors"))"

if ! schemas="$(psql -X -q -A -t -v ON_ERROR_STOP=1 -c "SELECT quote_ident(nspname) FROM pg_namespace
    WHERE nspname <> 'information_schema' AND nspname NOT LIKE 'pg\_%' ORDER BY 1" 2>&1)"; then
    fail "cannot connect to the database $PGDATABASE at $where as $PGUSER ($(reason_of <<<"$schemas"))"
fi
{
    while IFS= read -r schema; do
        [[ -n "$schema" ]] && printf 'DROP SCHEMA %s CASCADE;\n' "$schema"
    done <<<"$schemas"
    printf 'CREATE SCHEMA public;\n'
} | psql -X -q -v ON_ERROR_STOP=1 --single-transaction -f - >/dev/null 2>"$errors" \
    || fail "emptying the database $PGDATABASE at $where failed ($(reason_of <"$errors"))"

if ! pg_restore --no-owner --no-privileges --single-transaction --exit-on-error \
    --dbname="$PGDATABASE" "$dump" 2>"$errors"; then
    fail "importing the dump into $PGDATABASE at $where failed ($(reason_of <"$errors"))"
fi
tables="$(psql -X -q -A -t -c "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p') AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\_%'" 2>/dev/null || echo "?")"
echo "imported database $PGDATABASE from a $(human "$(wc -c <"$dump")") dump: $tables tables"
