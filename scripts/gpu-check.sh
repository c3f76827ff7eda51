#!/usr/bin/env bash
# The GPU checks, on a machine with an NVIDIA GPU: builds if there is no
# build (scripts/setup.sh + build.sh), then runs the GPU-only numerics
# (test/python/test_gpu_device.py: the kernels on the device vs numpy over
# head dims 64-256, f16/bf16/f32, MHA and GQA, one and several KV splits,
# and the hybrid program) with HGC_RT_GPU=cuda, the nvptx suite, and the
# device-kernel bench against the DRAM bandwidth bound
# (bench/gpu_decode.py, JSON in docs/bench/gpu.json). Without a GPU the
# GPU-only tests report skipped and the bench says so; the exit is 0.
#
# With --bundle DIR (a folder scripts/gpu-bundle.sh built) it runs only from
# the bundle: the machine needs python3 and numpy, nothing is built or
# installed; results go to $OUT (or DIR/results) as gpu-check.json and
# gpu-check.log, with a one-line verdict.
set -euo pipefail
if [ "${1:-}" = "--bundle" ]; then
  bundle=$(cd "${2:?--bundle needs a folder}" && pwd)
  command -v nvidia-smi >/dev/null && nvidia-smi -L || true
  exec python3 "$bundle/gpu_bundle.py" check --bundle "$bundle" \
    --out "${OUT:-$bundle/results}"
fi
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${HGC_BUILD_DIR:-$root/build}
export HGC_BUILD_DIR=$build PATH=/usr/lib/llvm-22/bin:/usr/local/cuda/bin:$PATH
if [ ! -x "$build/bin/hgc-runner" ] || [ ! -x "$root/.venv/bin/python" ]; then
  "$root/scripts/setup.sh"
  "$root/scripts/build.sh"
fi
python=$root/.venv/bin/python

chip=sm_90
if command -v nvidia-smi >/dev/null && nvidia-smi -L; then
  capability=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader |
    head -1 | tr -d ' .')
  case "$capability" in 80 | 86 | 89 | 90) chip=sm_$capability ;; esac
else
  echo "gpu-check: no nvidia-smi / GPU here: GPU-only tests will be skipped"
fi
echo "gpu-check: runtime back end: $(cd "$root/test/python" &&
  "$python" -c 'from test_gpu_device import gpu_backend; print(gpu_backend())')"

cd "$root/test/python"
"$python" -m pytest -q test_gpu_device.py test_gpu_target.py
"$python" "$root/bench/gpu_decode.py" --chip "$chip"
