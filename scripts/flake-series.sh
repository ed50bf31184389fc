#!/usr/bin/env bash
# Run one group of tests N times in a row and record each run, to find flaky tests: a test
# that fails once in ten runs blocks good work from landing one submission in ten.
# Run it the way CI runs (CI=true, so a skip fails; -n 3 on 2 cores gives CI's load), after
# `make test` has built what the group needs.
#
# Usage: scripts/flake-series.sh RUNS NAME [pytest arguments...]
#   scripts/flake-series.sh 10 browser -m browser -n 3
#   scripts/flake-series.sh 10 reliability tests/reliability -n 3
#   scripts/flake-series.sh 10 cluster tests/cluster -n 3
# Writes .local/flakes/NAME.tsv (run, exit code, pytest's closing line, seconds) and each
# run's output as .local/flakes/NAME-<run>.log ($FLAKES_DIR instead of .local/flakes when
# set); prints the table at the end. Exit status: 0 when every run passed.
set -uo pipefail
cd "$(dirname "$0")/.."
runs=${1:?usage: scripts/flake-series.sh RUNS NAME [pytest arguments...]}
name=${2:?usage: scripts/flake-series.sh RUNS NAME [pytest arguments...]}
shift 2
py=${PY:-.venv/bin/python}
out=${FLAKES_DIR:-.local/flakes}
mkdir -p "$out"
table="$out/$name.tsv"
printf 'run\texit\tsummary\tseconds\n' >"$table"
failed=0
for run in $(seq 1 "$runs"); do
  log="$out/$name-$run.log"
  started=$EPOCHREALTIME
  CI=${CI:-true} "$py" -m pytest -p no:cacheprovider -q "$@" >"$log" 2>&1
  rc=$?
  seconds=$(awk -v a="$started" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.0f", b-a}')
  # pytest's closing line: "12 passed in 139.78s (0:02:19)" under -q, framed by = without it.
  summary=$(grep -E '^(=+ )?[0-9]+ (passed|failed|error|skipped|deselected)' "$log" | tail -1 | tr -d '=' | sed 's/^ *//; s/ *$//')
  printf '%s\t%s\t%s\t%s\n' "$run" "$rc" "${summary:-no summary (see $log)}" "$seconds" >>"$table"
  [ "$rc" -eq 0 ] || failed=$((failed + 1))
  tail -1 "$table"
done
column -t -s $'\t' "$table"
echo "flake-series $name: $((runs - failed)) of $runs runs passed ($table)"
[ "$failed" -eq 0 ]
