#!/usr/bin/env bash
# Runs the replication benchmark several times and sums up its two headline figures, since one
# run is one sample of a host whose disk and cores are shared:
#
#   tools/bench/replication_runs.sh [RUNS] [-- BENCH FLAGS...]
#
# RUNS defaults to 10; the bench flags default to "--seconds 5 --sequential". The bench binary is
# taken from $BENCH, or from build/ under the repository root. Prints each run's full-load
# throughput and half-load lag, then how many runs met each target. Asserts nothing.
set -euo pipefail

runs=10
if [[ $# -gt 0 && $1 != "--" ]]; then
  runs=$1
  shift
fi
[[ $runs =~ ^[1-9][0-9]*$ ]] || { echo "replication_runs: RUNS must be a positive integer, not '$runs'" >&2; exit 2; }
[[ $# -gt 0 && $1 == "--" ]] && shift
flags=("$@")
[[ ${#flags[@]} -gt 0 ]] || flags=(--seconds 5 --sequential)

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bench=${BENCH:-$root/build/tools/bench/syncline_replication_bench}
[[ -x $bench ]] || { echo "replication_runs: no benchmark binary at $bench (build first, or set BENCH)" >&2; exit 2; }

printf '%-4s %14s %16s %16s %16s\n' run "full writes/s" "half p50 ms" "half p99 ms" "half max ms"
out=$(mktemp)
trap 'rm -f "$out" "$out.table"' EXIT
for ((i = 1; i <= runs; i++)); do
  "$bench" "${flags[@]}" >"$out" 2>&1 || { cat "$out" >&2; echo "replication_runs: run $i failed" >&2; exit 1; }
  awk -v run="$i" '
    /^full load / { full = $3 }
    /^half load / { for (f = 1; f <= NF; f++) {
                      if ($f == "p50") p50 = $(f + 1)
                      if ($f == "p99" && p99 == "") p99 = $(f + 1)
                      if ($f == "max" && max == "") max = $(f + 1) } }
    END { if (full == "" || p99 == "") { print "replication_runs: run " run " printed no full and half load lines" > "/dev/stderr"; exit 1 }
          printf "%-4s %14s %16s %16s %16s\n", run, full, p50, p99, max }' "$out"
done | tee "$out.table"
awk -v runs="$runs" '
  NR > 0 { n++; if ($2 >= 100000) tput++; if ($4 < 10) lag++ }
  END { printf "%d of %d runs at least 100,000 writes/s; %d of %d runs with a half-load p99 under 10 ms\n",
               tput, n, lag, n }' "$out.table"
rm -f "$out.table"
