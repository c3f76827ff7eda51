#!/usr/bin/env bash
# Fuzzes the ONNX importer for a bounded time: fuzz-onnx.sh FUZZER [SECONDS].
# Seeds are the ONNX backend models shipped in test/onnx-backend-node, small
# models of the other ops exporters write (test/fuzz-seeds) and the past
# crashers in test/fuzz-regressions; new
# corpus entries go to build/fuzz/onnx-corpus; a crash leaves its input in
# build/fuzz/ and fails the run.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
fuzzer=${1:-$root/build/bin/hgc-onnx-fuzzer}
seconds=${2:-60}
work=${HGC_BUILD_DIR:-$root/build}/fuzz
mkdir -p "$work/onnx-corpus" "$work/seeds"
for model in "$root"/test/onnx-backend-node/*/model.onnx; do
  cp -f "$model" "$work/seeds/$(basename "$(dirname "$model")").onnx"
done
cp -f "$root"/test/fuzz-seeds/*.onnx "$work/seeds/"
# Inputs that once crashed the importer are replayed first, every run.
cp -f "$root"/test/fuzz-regressions/* "$work/seeds/"
cd "$work"
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1
exec "$fuzzer" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=4096 \
  -max_len=65536 -print_final_stats=1 onnx-corpus seeds
