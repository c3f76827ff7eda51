#!/usr/bin/env bash
# Builds the GPU bundle (docs/gpu.md): the GPU checks compiled ahead of time
# for sm_90 (PTX, JIT-compiled by the driver on newer GPUs), linked against
# the KV runtime and libomp only, with their runner, checker and float64
# references: a folder that runs on a GPU machine without LLVM, MLIR or a
# package registry. Usage: scripts/gpu-bundle.sh [DIR (gpu-bundle)] [--quick]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${HGC_BUILD_DIR:-$root/build}
out=${1:-$root/gpu-bundle}
shift || true
if [ ! -x "$build/bin/hgc" ] || [ ! -x "$build/bin/hgc-aot-run" ]; then
  "$root/scripts/setup.sh"
  "$root/scripts/build.sh"
fi
HGC_BUILD_DIR=$build python3 "$root/bench/gpu_bundle.py" build --out "$out" "$@"
