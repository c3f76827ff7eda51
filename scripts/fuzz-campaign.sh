#!/usr/bin/env bash
# A fuzzing campaign: each built fuzzer (hgc-npy/capi/mlir/onnx-fuzzer, or the
# kinds named after the numbers) runs for RUNS executions or SECONDS,
# whichever ends first, under ASan + UBSan (scripts/fuzz.sh), and its
# libFuzzer statistics go to docs/bench/fuzzing/<kind>.txt: executions, rate,
# corpus, crashes.
#   scripts/fuzz-campaign.sh [RUNS (1000000)] [SECONDS per target (3600)] [KIND...]
# HGC_FUZZ_JOBS=N splits RUNS over N processes sharing one corpus (libFuzzer
# -jobs), for targets too slow to reach RUNS on one core.
# A crash stops that target's run, leaves the input in build/fuzz/<kind>/
# and makes the script exit 1; the input belongs in test/fuzz-regressions/.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
runs=${1:-1000000}
seconds=${2:-3600}
shift $(($# < 2 ? $# : 2))
kinds=${*:-npy capi mlir onnx}
jobs=${HGC_FUZZ_JOBS:-1}
out=$root/docs/bench/fuzzing
mkdir -p "$out"
status=0
for kind in $kinds; do
  fuzzer=${HGC_BUILD_DIR:-$root/build}/bin/hgc-$kind-fuzzer
  work=${HGC_BUILD_DIR:-$root/build}/fuzz/$kind
  [ -x "$fuzzer" ] || { echo "fuzz-campaign: no $fuzzer" >&2; status=1; continue; }
  log=$(mktemp)
  # Inputs may wait for the CPU behind other work on the machine: a
  # timeout of 120 s still catches a hang, not a starved run.
  flags=(-runs=$((runs / jobs)) -timeout=120)
  if [ "$jobs" -gt 1 ]; then
    # Each job logs to fuzz-<n>.log in the target's work directory.
    rm -f "$work"/fuzz-*.log
    flags+=(-jobs="$jobs" -workers="$jobs")
  fi
  start=$(date +%s)
  "$root/scripts/fuzz.sh" "$fuzzer" "$seconds" "${flags[@]}" >"$log" 2>&1
  code=$?
  # The jobs' own logs hold their statistics (and sanitizer reports).
  [ "$jobs" -gt 1 ] && cat "$work"/fuzz-*.log >"$log"
  {
    echo "\$ HGC_FUZZ_JOBS=$jobs scripts/fuzz.sh $(basename "$fuzzer") $seconds" \
         "${flags[*]} # $(date -u +%Y-%m-%d), $(nproc) cores, $(uname -m)"
    echo "exit $code after $(($(date +%s) - start)) s"
    grep -E '^(Done|stat::|==[0-9]+==ERROR|SUMMARY|artifact_prefix|Test unit written)' "$log"
    awk '/^stat::number_of_executed_units:/ { total += $2 }
         END { print "executions, all jobs: " total }' "$log"
    echo "corpus files: $(ls "$work/corpus" | wc -l)"
  } >"$out/$kind.txt"
  cat "$out/$kind.txt"
  [ $code -eq 0 ] || status=1
  rm -f "$log"
done
exit $status
