#!/usr/bin/env bash
# README command (1): set up, build, and run the main job on the bundled
# example: a Llama-style ONNX decoder (examples/llama/build_model.py) is
# compiled with the hybrid placement and decoded over a long synthetic past;
# prints the placement plan, the difference from --policy full and from
# onnxruntime, and the times. Extra arguments go to run_decode.py
# (e.g. --past 32768 --budget 0.1).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/setup.sh"
"$root/scripts/build.sh" >/dev/null
"$root/.venv/bin/python" "$root/examples/llama/run_decode.py" "$@"
