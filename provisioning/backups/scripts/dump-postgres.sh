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
# libpq's messages, reduced to their reason: no "psql: error:" prefix, one line.
reason_of() { grep -v '^[[:space:]]*$' | grep -iv '^\(HINT\|DETAIL\|LINE\)' | tail -n 1 \
    | sed -e 's/^[a-z_]*: error: //' -e 's/^[a-z_]*: //' -e 's/connection to server at [^,]*, port [0-9]* failed: //' \
    -e 's/FATAL: *//' -e 's/ERROR: *//'; }

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
