#!/usr/bin/env bash
# README command (1): set up, build, and run the main job on the bundled
# example: compile one decode step of attention into the hybrid split (printed
# below), then run it on this host placed `full` and `hgca` and compare with
# float64 numpy.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/setup.sh"
"$root/scripts/build.sh" >/dev/null
example=$root/examples/decode_step.mlir
echo "== $example after -hgc-hybrid-pipeline (policy=hgca sink=4 window=64 budget=0.25)"
"$root/build/bin/hgc-opt" "$example" \
  -hgc-hybrid-pipeline="policy=hgca sink=4 window=64 budget=0.25"
echo "== run on this host (hgc-runner: host pipeline, OpenMP, JIT)"
"$root/.venv/bin/python" "$root/examples/run_decode_step.py"
