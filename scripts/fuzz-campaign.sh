#!/usr/bin/env bash
# A fuzzing campaign: each built fuzzer (hgc-npy/capi/mlir/onnx-fuzzer) runs for
# RUNS executions or SECONDS, whichever ends first, under ASan + UBSan
# (scripts/fuzz.sh), and its libFuzzer statistics go to
# docs/bench/fuzzing/<kind>.txt: executions, rate, corpus, crashes.
#   scripts/fuzz-campaign.sh [RUNS (1000000)] [SECONDS per target (3600)]
# A crash stops that target's run, leaves the input in build/fuzz/<kind>/
# and makes the script exit 1; the input belongs in test/fuzz-regressions/.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
runs=${1:-1000000}
seconds=${2:-3600}
out=$root/docs/bench/fuzzing
mkdir -p "$out"
status=0
for kind in npy capi mlir onnx; do
  fuzzer=${HGC_BUILD_DIR:-$root/build}/bin/hgc-$kind-fuzzer
  [ -x "$fuzzer" ] || { echo "fuzz-campaign: no $fuzzer" >&2; status=1; continue; }
  log=$(mktemp)
  start=$(date +%s)
  "$root/scripts/fuzz.sh" "$fuzzer" "$seconds" -runs="$runs" >"$log" 2>&1
  code=$?
  {
    echo "\$ scripts/fuzz.sh $(basename "$fuzzer") $seconds -runs=$runs" \
         "# $(date -u +%Y-%m-%d), $(nproc) cores, $(uname -m)"
    echo "exit $code after $(($(date +%s) - start)) s"
    grep -E '^(Done|stat::|==[0-9]+==ERROR|SUMMARY|artifact_prefix|Test unit written)' "$log"
    echo "corpus files: $(ls "${HGC_BUILD_DIR:-$root/build}/fuzz/$kind/corpus" | wc -l)"
  } >"$out/$kind.txt"
  cat "$out/$kind.txt"
  [ $code -eq 0 ] || status=1
  rm -f "$log"
done
exit $status
