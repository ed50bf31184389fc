#!/bin/sh
# Backup Job, last step: upload the backup to S3 through presigned PUT URLs made by the
# portal (provisioning/backups/s3.py): first database and files.tar.gz, then manifest.json,
# which lists both objects' sizes and SHA-256 (download.sh checks them). The manifest goes
# LAST: a backup is complete exactly when its manifest exists.
#
# Env: WORK_DIR (holds database and files.tar.gz), URL_DATABASE, URL_FILES, URL_MANIFEST.
# POSIX sh for the curl image (busybox: curl, sha256sum, wc, sed, awk; no bash, no jq).
# The URLs carry signatures: messages name the object, never a URL's query string.
# On failure: one line on stderr starting with "backup:", exit 1. On success the last line of
# stdout is a summary.
set -eu

fail() { echo "backup: $*" >&2; exit 1; }
human() { awk -v b="$1" 'BEGIN { split("B KB MB GB TB", u, " "); i = 1
    while (b >= 1024 && i < 5) { b /= 1024; i++ }
    if (i == 1) printf "%d %s", b, u[i]; else printf "%.1f %s", b, u[i] }'; }
# The object's path in the URL (bucket/key for path-style URLs), without the query string.
object_of() { path="${1%%\?*}"; path="${path#*://}"; case "$path" in */*) echo "${path#*/}" ;; *) echo "$path" ;; esac; }
# An S3 error document's <Code> and <Message>, as "Code: Message".
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
command -v curl >/dev/null || fail "no curl in this image"
for name in database files.tar.gz; do
    [ -f "$WORK_DIR/$name" ] || fail "nothing to upload: $WORK_DIR/$name is missing"
done

response="$WORK_DIR/.upload-response"
errors="$WORK_DIR/.upload-errors"
trap 'rm -f "$response" "$errors"' EXIT

# put NAME URL: PUT $WORK_DIR/NAME; retried (3 times, 1 s, 2 s, 4 s apart) on any failure
# to connect or transfer and on HTTP 408/429/5xx; an HTTP refusal (403, 404) is final.
put() {
    name="$1"
    url="$2"
    : >"$response"
    if ! status="$(curl -sS --retry 3 --retry-all-errors --connect-timeout 30 \
        -o "$response" -w '%{http_code}' -T "$WORK_DIR/$name" "$url" 2>"$errors")"; then
        reason="$(grep -v '^$' "$errors" | tail -n 1 | sed -e 's/^curl: \{0,1\}([0-9]*) //' -e 's/^curl: //' -e 's#[a-zA-Z][a-zA-Z0-9+.-]*://[^ ]*#<url>#g')"
        fail "uploading $name to $(object_of "$url") failed (${reason:-curl failed})"
    fi
    case "$status" in
        2??) ;;
        *) fail "uploading $name to $(object_of "$url") failed: HTTP $status$(s3_error "$response")" ;;
    esac
}

digest() { sha256sum "$WORK_DIR/$1" | awk '{ print $1 }'; }
size() { echo $(($(wc -c <"$WORK_DIR/$1"))); }

db_bytes="$(size database)"
db_sha="$(digest database)"
files_bytes="$(size files.tar.gz)"
files_sha="$(digest files.tar.gz)"
printf '{"format": 1, "objects": {"database": {"bytes": %s, "sha256": "%s"}, "files.tar.gz": {"bytes": %s, "sha256": "%s"}}}\n' \
    "$db_bytes" "$db_sha" "$files_bytes" "$files_sha" >"$WORK_DIR/manifest.json"

put database "$URL_DATABASE"
put files.tar.gz "$URL_FILES"
put manifest.json "$URL_MANIFEST"
echo "uploaded backup: database $(human "$db_bytes"), files.tar.gz $(human "$files_bytes"), manifest.json"
