#!/usr/bin/env bash
# Builds the KV runtime and its tests alone (no MLIR) with a sanitizer and
# runs them: `asan` (AddressSanitizer + LeakSanitizer + UBSan) or `tsan`
# (ThreadSanitizer). JUnit results go to $2.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
kind=$1
junit=$2
llvm=/usr/lib/llvm-22
build=${HGC_BUILD_DIR:-$root/build}/runtime-$kind
case $kind in
  asan) flags="-fsanitize=address,undefined -fno-sanitize-recover=all" ;;
  tsan) flags="-fsanitize=thread" ;;
  *) echo "usage: $0 asan|tsan JUNIT.xml" >&2; exit 2 ;;
esac
flags="$flags -fno-omit-frame-pointer -g -O1"
if [ ! -f "$build/build.ninja" ]; then
  cmake -G Ninja -S "$root/runtime" -B "$build" -DCMAKE_BUILD_TYPE=Debug \
    -DCMAKE_C_COMPILER=$llvm/bin/clang -DCMAKE_CXX_COMPILER=$llvm/bin/clang++ \
    -DCMAKE_C_FLAGS="$flags" -DCMAKE_CXX_FLAGS="$flags" \
    -DCMAKE_EXE_LINKER_FLAGS="$flags" -DCMAKE_SHARED_LINKER_FLAGS="$flags" \
    >/dev/null
fi
ninja -C "$build" >/dev/null
# Any report fails the test that triggered it.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
ctest --test-dir "$build" --output-on-failure --output-junit "$junit"
