#!/usr/bin/env bash
# Configures (once) and builds hgc with clang-22 + lld against Debian's
# libMLIR.so. Binaries land in build/bin. HGC_BUILD_DIR overrides the folder.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
llvm=/usr/lib/llvm-22
build=${HGC_BUILD_DIR:-$root/build}
export PATH=$llvm/bin:$PATH

if [ ! -f "$build/build.ninja" ]; then
  cmake -G Ninja -S "$root" -B "$build" \
    -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_C_COMPILER=$llvm/bin/clang \
    -DCMAKE_CXX_COMPILER=$llvm/bin/clang++ \
    -DLLVM_USE_LINKER=lld \
    -DMLIR_DIR=$llvm/lib/cmake/mlir \
    -DLLVM_EXTERNAL_LIT=$llvm/bin/lit \
    -DPython3_EXECUTABLE="$root/.venv/bin/python" >/dev/null
fi
ninja -C "$build"
