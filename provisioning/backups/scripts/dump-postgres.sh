#!/usr/bin/env bash
# Backup Job, step 1 for a Medusa store: dump its PostgreSQL database to $WORK_DIR/database
# (pg_dump's custom format, compressed). Runs in the postgres image (pg_dump, psql).
#
# Env: PGHOST, PGPORT (5432), PGDATABASE, PGUSER, PGPASSWORD, WORK_DIR: libpq reads them
# itself, so the password is never on a command line. --no-owner --no-privileges: the dump
# restores as whichever role owns the target database (import-postgres.sh).
# On failure: one line on stderr starting with "backup:", exit 1. On success the last line of
# stdout is a summary.
set -euo pipefail

fail() { echo "backup: $*" >&2; exit 1; }
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
[[ -d "$WORK_DIR" ]] || fail "the work directory $WORK_DIR does not exist"
command -v pg_dump >/dev/null || fail "no pg_dump in this image"
command -v psql >/dev/null || fail "no psql in this image"

if ! tables="$(psql -X -q -A -t -v ON_ERROR_STOP=1 -c "SELECT count(*) FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p')
    AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\_%'" 2>&1)"; then
    fail "cannot connect to the database $PGDATABASE at $where as $PGUSER ($(reason_of <<<"$tables"))"
fi

out="$WORK_DIR/database"
errors="$(mktemp)"
trap 'rm -f "$errors"' EXIT
if ! pg_dump --format=custom --no-owner --no-privileges --file="$out" 2>"$errors"; then
    rm -f "$out"
    fail "dumping the database $PGDATABASE at $where failed ($(reason_of <"$errors"))"
fi
cat "$errors" >&2
bytes="$(wc -c <"$out")"
echo "dumped database $PGDATABASE: ${tables} tables, $(human "$bytes") compressed"
