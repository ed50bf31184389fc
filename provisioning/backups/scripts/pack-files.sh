#!/bin/sh
# Backup Job, step 2: pack the store's files (the uploads volume, FILES_DIR) into
# $WORK_DIR/files.tar.gz: the directory's contents with relative paths (root "."), so the
# archive unpacks into any directory (unpack-files.sh). Modes, mtimes and symlinks are kept.
# A missing or empty FILES_DIR gives an empty archive: a store may have no uploads yet.
#
# Env: FILES_DIR, WORK_DIR. POSIX sh; GNU tar or busybox tar.
# On failure: one line on stderr starting with "backup:", exit 1. On success the last line of
# stdout is a summary.
set -eu

fail() { echo "backup: $*" >&2; exit 1; }
human() { awk -v b="$1" 'BEGIN { split("B KB MB GB TB", u, " "); i = 1
    while (b >= 1024 && i < 5) { b /= 1024; i++ }
    if (i == 1) printf "%d %s", b, u[i]; else printf "%.1f %s", b, u[i] }'; }

[ -n "${FILES_DIR:-}" ] || fail "FILES_DIR is not set"
[ -n "${WORK_DIR:-}" ] || fail "WORK_DIR is not set"
[ -d "$WORK_DIR" ] || fail "the work directory $WORK_DIR does not exist"
out="$WORK_DIR/files.tar.gz"
errors="$WORK_DIR/.pack-files.err"
trap 'rm -f "$errors"' EXIT

source_dir="$FILES_DIR"
empty=""
if [ ! -d "$FILES_DIR" ]; then
    empty="$FILES_DIR does not exist"
elif [ -z "$(ls -A "$FILES_DIR")" ]; then
    empty="$FILES_DIR is empty"
fi
if [ -n "$empty" ]; then
    source_dir="$WORK_DIR/.empty-files"
    mkdir -p "$source_dir"
fi

if ! tar -C "$source_dir" -czf "$out" . 2>"$errors"; then
    rm -f "$out"
    fail "packing the files of $FILES_DIR failed ($(grep -v '^$' "$errors" | tail -n 1))"
fi
bytes=$(($(wc -c <"$out")))
if [ -n "$empty" ]; then
    rmdir "$source_dir"
    echo "packed no files ($empty): wrote an empty archive, $(human "$bytes")"
    exit 0
fi
count=$(($(find "$FILES_DIR" ! -type d | wc -l)))
echo "packed files of $FILES_DIR: $count files, $(human "$bytes") compressed"
