#!/usr/bin/env bash
# README command (1): set up, build, and run the main job on the bundled
# example: verify a hybrid decode step and print it in both IR forms.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/setup.sh"
"$root/scripts/build.sh" >/dev/null
example=$root/examples/hybrid_decode_step.mlir
echo "== $example, verified and pretty-printed by hgc-opt"
"$root/build/bin/hgc-opt" "$example"
echo "== the same, generic form (what any MLIR tool can read back)"
"$root/build/bin/hgc-opt" "$example" -mlir-print-op-generic |
  "$root/build/bin/hgc-opt" -mlir-print-op-generic
