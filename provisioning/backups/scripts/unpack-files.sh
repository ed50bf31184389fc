#!/bin/sh
# Restore Job, last step: make FILES_DIR exactly the backup's files: remove everything in it
# (dotfiles included; the directory itself stays, it is usually a mounted volume), then
# extract $WORK_DIR/files.tar.gz (made by pack-files.sh) into it. The archive is checked
# before anything is removed.
#
# Env: FILES_DIR, WORK_DIR. POSIX sh; GNU tar or busybox tar.
# On failure: one line on stderr starting with "restore:", exit 1. On success the last line of
# stdout is a summary.
set -eu

fail() { echo "restore: $*" >&2; exit 1; }

[ -n "${FILES_DIR:-}" ] || fail "FILES_DIR is not set"
[ -n "${WORK_DIR:-}" ] || fail "WORK_DIR is not set"
archive="$WORK_DIR/files.tar.gz"
[ -f "$archive" ] || fail "$archive is missing (download.sh fetches it)"
case "$(cd / && realpath -m "$FILES_DIR" 2>/dev/null || echo "$FILES_DIR")" in
    / | /bin | /etc | /usr | /var | /root | /home) fail "refusing to empty $FILES_DIR" ;;
esac
errors="$WORK_DIR/.unpack-files.err"
trap 'rm -f "$errors"' EXIT

if ! tar -tzf "$archive" >/dev/null 2>"$errors"; then
    fail "files.tar.gz is not a readable archive ($(grep -v '^$' "$errors" | tail -n 1))"
fi
mkdir -p "$FILES_DIR" || fail "cannot create $FILES_DIR"
if ! find "$FILES_DIR" -mindepth 1 -maxdepth 1 -exec rm -rf {} + 2>"$errors"; then
    fail "cannot empty $FILES_DIR ($(grep -v '^$' "$errors" | tail -n 1))"
fi
# GNU tar keeps the archived modes with -p (the default only for root); busybox always does.
keep=""
if tar --version 2>/dev/null | grep -q 'GNU tar'; then keep="p"; fi
if ! tar -C "$FILES_DIR" -x${keep}zf "$archive" 2>"$errors"; then
    fail "extracting files.tar.gz into $FILES_DIR failed ($(grep -v '^$' "$errors" | tail -n 1))"
fi
count=$(($(find "$FILES_DIR" ! -type d | wc -l)))
echo "restored files into $FILES_DIR: $count files"
