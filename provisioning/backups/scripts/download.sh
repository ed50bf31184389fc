#!/bin/sh
# Restore Job, first step: download a backup from S3 through presigned GET URLs made by the
# portal: manifest.json first (no manifest, no complete backup), then database and
# files.tar.gz into WORK_DIR, each checked against the manifest's size and SHA-256.
#
# Env: WORK_DIR, URL_DATABASE, URL_FILES, URL_MANIFEST.
# POSIX sh for the curl image (busybox: curl, sha256sum, wc, sed, awk; no bash, no jq).
# The URLs carry signatures: messages name the object, never a URL's query string.
# On failure: one line on stderr starting with "restore:", exit 1. On success the last line of
# stdout is a summary.
set -eu

fail() { echo "restore: $*" >&2; exit 1; }
human() { awk -v b="$1" 'BEGIN { split("B KB MB GB TB", u, " "); i = 1
    while (b >= 1024 && i < 5) { b /= 1024; i++ }
    if (i == 1) printf "%d %s", b, u[i]; else printf "%.1f %s", b, u[i] }'; }
object_of() { path="${1%%\?*}"; path="${path#*://}"; case "$path" in */*) echo "${path#*/}" ;; *) echo "$path" ;; esac; }
s3_error() {
    code="$(sed -n 's:.*<Code>\([^<]*\)</Code>.*:\1:p' "$1" 2>/dev/null | head -n 1)"
    message="$(sed -n 's:.*<Message>\([^<]*\)</Message>.*:\1:p' "$1" 2>/dev/null | head -n 1)"
    if [ -n "$code" ] && [ -n "$message" ]; then echo " $code: $message"; elif [ -n "$code" ]; then echo " $code"; fi
}

[ -n "${WORK_DIR:-}" ] || fail "WORK_DIR is not set"
for var in URL_DATABASE URL_FILES URL_MANIFEST; do
    eval "value=\${$var:-}"
    [ -n "$value" ] || fail "$var is not set"
done
[ -d "$WORK_DIR" ] || fail "the work directory $WORK_DIR does not exist"
command -v curl >/dev/null || fail "no curl in this image"

errors="$WORK_DIR/.download-errors"
trap 'rm -f "$errors"' EXIT

# get NAME URL: GET into $WORK_DIR/NAME; retried (3 times, 1 s, 2 s, 4 s apart) on any failure
# to connect or transfer and on HTTP 408/429/5xx; an HTTP refusal (403, 404) is final.
get() {
    name="$1"
    url="$2"
    out="$WORK_DIR/$name"
    rm -f "$out"
    if ! status="$(curl -sS --retry 3 --retry-all-errors --connect-timeout 30 \
        -o "$out" -w '%{http_code}' "$url" 2>"$errors")"; then
        reason="$(grep -v '^$' "$errors" | tail -n 1 | sed -e 's/^curl: \{0,1\}([0-9]*) //' -e 's/^curl: //' -e 's#[a-zA-Z][a-zA-Z0-9+.-]*://[^ ]*#<url>#g')"
        rm -f "$out"
        fail "downloading $name from $(object_of "$url") failed (${reason:-curl failed})"
    fi
    case "$status" in
        2??) ;;
        404)
            detail="$(s3_error "$out")"
            rm -f "$out"
            if [ "$name" = manifest.json ]; then
                backup="$(object_of "$url")"
                fail "the backup ${backup%manifest.json} has no manifest.json: it is incomplete or was deleted (HTTP 404$detail)"
            fi
            fail "downloading $name from $(object_of "$url") failed: HTTP 404$detail"
            ;;
        *)
            detail="$(s3_error "$out")"
            rm -f "$out"
            fail "downloading $name from $(object_of "$url") failed: HTTP $status$detail"
            ;;
    esac
}

get manifest.json "$URL_MANIFEST"
manifest="$(tr -d '\n\r' <"$WORK_DIR/manifest.json")"
format="$(printf '%s\n' "$manifest" | sed -n 's/.*"format"[[:space:]]*:[[:space:]]*\([0-9][0-9]*\).*/\1/p')"
[ "$format" = 1 ] || fail "manifest.json is not a format 1 backup manifest"

# expected NAME: "BYTES SHA256" from the manifest (written by upload.sh with printf).
expected() {
    quoted="$(printf '%s' "$1" | sed 's/\./\\./g')"
    printf '%s\n' "$manifest" | sed -n "s/.*\"$quoted\"[[:space:]]*:[[:space:]]*{[[:space:]]*\"bytes\"[[:space:]]*:[[:space:]]*\([0-9][0-9]*\)[[:space:]]*,[[:space:]]*\"sha256\"[[:space:]]*:[[:space:]]*\"\([0-9a-f]\{64\}\)\".*/\1 \2/p"
}

# check NAME: its size and SHA-256 are the manifest's.
check() {
    name="$1"
    # shellcheck disable=SC2046 # two words: bytes and sha256
    set -- $(expected "$name")
    [ "$#" -eq 2 ] || fail "manifest.json does not list $name"
    bytes=$(($(wc -c <"$WORK_DIR/$name")))
    [ "$bytes" -eq "$1" ] || fail "$name is corrupt: $bytes bytes, the manifest says $1"
    sha="$(sha256sum "$WORK_DIR/$name" | awk '{ print $1 }')"
    [ "$sha" = "$2" ] || fail "$name is corrupt: sha256 mismatch"
}

get database "$URL_DATABASE"
check database
get files.tar.gz "$URL_FILES"
check files.tar.gz
db_bytes=$(($(wc -c <"$WORK_DIR/database")))
files_bytes=$(($(wc -c <"$WORK_DIR/files.tar.gz")))
echo "downloaded backup: database $(human "$db_bytes"), files.tar.gz $(human "$files_bytes"), sizes and sha256 match the manifest"
