#!/usr/bin/env bash
# Test stand-in for the official postgres image's docker-entrypoint.sh (not that script).
#
# Honours the documented contract of docker.io/library/postgres: POSTGRES_PASSWORD (required
# unless POSTGRES_HOST_AUTH_METHOD=trust), POSTGRES_USER (default postgres), POSTGRES_DB
# (default: the user), POSTGRES_INITDB_ARGS, POSTGRES_HOST_AUTH_METHOD (default
# scram-sha-256), PGDATA (default /var/lib/postgresql/data), *.sh / *.sql / *.sql.gz in
# /docker-entrypoint-initdb.d run once on first start. It runs as the uid it is started with
# (999 = postgres in the image); unlike the official script it never switches users, so it
# cannot chown a volume: point PGDATA at a subdirectory of a mount, as the official docs advise.
set -Eeuo pipefail

if [ "${1:0:1}" = '-' ]; then
    set -- postgres "$@"
fi

file_env() {  # VAR or VAR_FILE (Docker secrets convention)
    local var="$1" def="${2:-}" file_var="${1}_FILE"
    if [ -n "${!var:-}" ] && [ -n "${!file_var:-}" ]; then
        echo >&2 "error: both $var and $file_var are set (but are exclusive)"; exit 1
    fi
    local val="$def"
    if [ -n "${!var:-}" ]; then val="${!var}"; elif [ -n "${!file_var:-}" ]; then val="$(< "${!file_var}")"; fi
    export "$var"="$val"
    unset "$file_var"
}

if [ "$1" = 'postgres' ]; then
    file_env POSTGRES_PASSWORD
    file_env POSTGRES_USER postgres
    file_env POSTGRES_DB "$POSTGRES_USER"
    file_env POSTGRES_INITDB_ARGS
    : "${POSTGRES_HOST_AUTH_METHOD:=scram-sha-256}"
    : "${PGDATA:=/var/lib/postgresql/data}"
    export PGDATA

    mkdir -p "$PGDATA"
    chmod 00700 "$PGDATA" 2>/dev/null || true
    if [ ! -s "$PGDATA/PG_VERSION" ]; then
        if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "$POSTGRES_HOST_AUTH_METHOD" != 'trust' ]; then
            cat >&2 <<'MSG'
Error: Database is uninitialized and superuser password is not specified.
       You must specify POSTGRES_PASSWORD to a non-empty value for the
       superuser. For example, "-e POSTGRES_PASSWORD=password" on "docker run".
MSG
            exit 1
        fi
        pwfile="$(mktemp)"
        printf '%s\n' "${POSTGRES_PASSWORD:-}" > "$pwfile"
        # shellcheck disable=SC2086
        initdb --username="$POSTGRES_USER" --pwfile="$pwfile" $POSTGRES_INITDB_ARGS
        rm -f "$pwfile"
        printf '\nhost all all all %s\n' "$POSTGRES_HOST_AUTH_METHOD" >> "$PGDATA/pg_hba.conf"

        # Temporary server on the unix socket only, as the official entrypoint does.
        PGUSER="$POSTGRES_USER" pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -p 5432" -w start
        export PGPASSWORD="${POSTGRES_PASSWORD:-}"
        psql=(psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password --no-psqlrc)
        if [ "$POSTGRES_DB" != 'postgres' ]; then
            "${psql[@]}" --dbname postgres --set db="$POSTGRES_DB" <<<"CREATE DATABASE :\"db\" ;"
        fi
        for f in /docker-entrypoint-initdb.d/*; do
            case "$f" in
                *.sh) if [ -x "$f" ]; then "$f"; else . "$f"; fi ;;
                *.sql) "${psql[@]}" --dbname "$POSTGRES_DB" -f "$f" ;;
                *.sql.gz) gunzip -c "$f" | "${psql[@]}" --dbname "$POSTGRES_DB" ;;
                *) ;;
            esac
        done
        unset PGPASSWORD
        pg_ctl -D "$PGDATA" -m fast -w stop
        echo 'PostgreSQL init process complete; ready for start up.'
    fi
    exec postgres -c listen_addresses='*' "${@:2}"
fi

exec "$@"
