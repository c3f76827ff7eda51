#!/usr/bin/env bash
# README command (2): set up, build, and run every suite: lit, ctest (with
# valgrind checks of the runtime), the runtime's tests under ASan+UBSan and
# TSan, and pytest.
# Ends with one line "N passed, N failed, N skipped" counting all suites and
# exits non-zero when any test fails or a suite cannot run.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${HGC_BUILD_DIR:-$root/build}
export HGC_BUILD_DIR=$build
"$root/scripts/setup.sh" || exit 1
"$root/scripts/build.sh" || exit 1

results=$build/test-results
rm -rf "$results" && mkdir -p "$results"
export PATH=/usr/lib/llvm-22/bin:$PATH

echo "== lit"
lit -sv "$build/test" --xunit-xml-output "$results/lit.xml"
echo "== ctest"
ctest --test-dir "$build" --output-on-failure --output-junit "$results/ctest.xml"
echo "== runtime under AddressSanitizer + UBSan"
"$root/scripts/sanitize-runtime.sh" asan "$results/runtime-asan.xml"
echo "== runtime under ThreadSanitizer"
"$root/scripts/sanitize-runtime.sh" tsan "$results/runtime-tsan.xml"
echo "== pytest"
"$root/.venv/bin/python" -m pytest "$root/test/python" -q \
  --junitxml "$results/pytest.xml"

"$root/.venv/bin/python" "$root/scripts/summarize_tests.py" \
  "$results/lit.xml" "$results/ctest.xml" "$results/runtime-asan.xml" \
  "$results/runtime-tsan.xml" "$results/pytest.xml"
