#!/usr/bin/env bash
# Runs one of hgc's libFuzzer targets over its seeds: fuzz.sh FUZZER [SECONDS]
# [extra libFuzzer flags, e.g. -runs=1000000]. The seeds per target:
#   hgc-onnx-fuzzer  the ONNX backend models (test/onnx-backend-node) and
#                    test/fuzz-seeds/*.onnx (models of other exporter ops)
#   hgc-npy-fuzzer   test/fuzz-seeds/npy/
#   hgc-mlir-fuzzer  the lit corpus (test/**/*.mlir, one seed per
#                    split-input-file case) and examples/*.mlir
#   hgc-capi-fuzzer  none: its bytes fill a configuration field by field
# plus the past crashers of test/fuzz-regressions/<kind>/, replayed first
# every run. New corpus entries go to build/fuzz/<kind>-corpus; a crash
# leaves its input in build/fuzz/<kind>/ and fails the run.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
fuzzer=$(realpath "${1:?usage: fuzz.sh FUZZER [SECONDS] [libFuzzer flags]}")
seconds=${2:-60}
shift $(($# < 2 ? $# : 2))
name=$(basename "$fuzzer")
kind=${name#hgc-}
kind=${kind%-fuzzer}
work=${HGC_BUILD_DIR:-$root/build}/fuzz/$kind
mkdir -p "$work/corpus" "$work/seeds"
case $kind in
onnx)
  for model in "$root"/test/onnx-backend-node/*/model.onnx; do
    cp -f "$model" "$work/seeds/$(basename "$(dirname "$model")").onnx"
  done
  cp -f "$root"/test/fuzz-seeds/*.onnx "$work/seeds/"
  max_len=65536 ;;
npy)
  cp -f "$root"/test/fuzz-seeds/npy/* "$work/seeds/"
  max_len=4096 ;;
mlir)
  # One seed per split-input-file case: a whole lit file seldom verifies as
  # one module, so its cases would never reach the pipelines.
  find "$root/test" "$root/examples" -name '*.mlir' -size -64k |
    while read -r file; do
      awk -v prefix="$work/seeds/$(echo "${file#"$root"/}" | tr / _)" '
        /^\/\/ -----/ { ++part; next }
        { print > (prefix "." part+0) }' "$file"
    done
  max_len=65536 ;;
capi)
  max_len=1024 ;;
*)
  echo "fuzz.sh: no seeds known for $name" >&2
  exit 2 ;;
esac
if [ -d "$root/test/fuzz-regressions/$kind" ]; then
  cp -f "$root/test/fuzz-regressions/$kind"/* "$work/seeds/"
fi
cd "$work"
# allow_user_poisoning=0: LLVM's allocators poison their free space in
# instrumented code, and libMLIR's uninstrumented copies of the same inline
# code then hand that space out: false reports, not bugs.
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:allow_user_poisoning=0
exec "$fuzzer" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=4096 \
  -max_len="$max_len" -print_final_stats=1 "$@" corpus seeds
