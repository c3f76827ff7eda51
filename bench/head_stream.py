#!/usr/bin/env python3
"""HeadInfer's head-wise residency on this machine: a decode loop over the
runtime's head stream (hgc-rt/head_stream.h) with the device tier emulated
in host memory and the host-to-device link emulated by pacing the staging
copies to --link-gbs (a PCIe link; this machine has none).

Llama-3-8B's attention shape (32 q heads, 8 KV heads, head dim 128, f16),
--layers layers of --context tokens. Streamed heads keep nothing on the
device (sink and window 0, HeadInfer's layout), so every step streams every
token of every streamed head. For 0, 2, 4 and 6 resident heads of 8 the
loop runs double-buffered (the next head copied while this one is attended,
the next layer's first head while this layer's last is) and serial (copy,
then attend), and reports per step the median time, the copy and compute
seconds and the stall (copy time the overlap did not hide). The attention
is the runtime's scalar host kernel, so these are the overlap's ratios on
this machine, not a GPU's speed. OpenMP workers do not spin between
regions (KMP_BLOCKTIME=0): on two cores they would starve the copy thread.

Prints JSON (--output FILE writes it too).
"""
import argparse
import json
import os
import pathlib
import platform
import statistics
import sys

import numpy as np

# OpenMP workers spin 200 ms after each parallel region by default; on two
# cores they starve the copy engine's thread, which a GPU's DMA engine would
# not need. Set before libomp loads.
os.environ.setdefault("KMP_BLOCKTIME", "0")
ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "jit" / "python"))
import hgc_jit  # noqa: E402

Q_HEADS, KV_HEADS, HEAD_DIM = 32, 8, 128


def run(args, resident, double_buffer):
    stream = hgc_jit.HeadStream(
        args.layers, KV_HEADS, HEAD_DIM, resident_heads=tuple(range(resident)),
        group_heads=1, kv_dtype="f16", page_tokens=64,
        double_buffer=double_buffer, link_bandwidth_gbs=args.link_gbs)
    stream.add_sequence(0)
    rng = np.random.default_rng(0)
    for layer in range(args.layers):
        keys = rng.standard_normal((KV_HEADS, args.context, HEAD_DIM))
        values = rng.standard_normal((KV_HEADS, args.context, HEAD_DIM))
        stream.append(0, layer, keys.astype(np.float16),
                      values.astype(np.float16))
    query = rng.standard_normal((Q_HEADS, HEAD_DIM)).astype(np.float32)
    steps = []
    for _ in range(args.steps):
        total = {"seconds": 0.0, "copy_seconds": 0.0, "compute_seconds": 0.0,
                 "stall_seconds": 0.0, "streamed_bytes": 0, "prefetched": 0}
        for layer in range(args.layers):
            _, _, step = stream.attend(0, layer, query,
                                       next_layer=(layer + 1) % args.layers)
            for key in total:
                total[key] += getattr(step, key)
        steps.append(total)
    steps = steps[1:]  # the first step has no prefetch of its first layer
    median = {key: statistics.median(step[key] for step in steps)
              for key in steps[0]}
    return {"resident_heads": resident, "double_buffer": double_buffer,
            "median_step": median, "steps": len(steps)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--context", type=int, default=8192)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--link-gbs", type=float, default=2.0)
    parser.add_argument("--machine", default="this machine: AMD Zen 3, 2 "
                        "cores, no GPU, Debian 12")
    parser.add_argument("--output")
    args = parser.parse_args()
    rows = []
    for resident in (0, 2, 4, 6):
        pair = [run(args, resident, db) for db in (True, False)]
        overlapped, serial = (p["median_step"]["seconds"] for p in pair)
        pair[0]["speedup_over_serial"] = serial / overlapped
        rows.extend(pair)
        print(f"resident {resident}/8: double-buffered "
              f"{1e3 * overlapped:.1f} ms, serial {1e3 * serial:.1f} ms "
              f"({serial / overlapped:.2f}x), stall "
              f"{1e3 * pair[0]['median_step']['stall_seconds']:.1f} vs "
              f"{1e3 * pair[1]['median_step']['stall_seconds']:.1f} ms",
              file=sys.stderr)
    result = {"machine": args.machine, "python": platform.python_version(),
              "shape": {"q_heads": Q_HEADS, "kv_heads": KV_HEADS,
                        "head_dim": HEAD_DIM, "kv_dtype": "f16",
                        "layers": args.layers, "context": args.context},
              "link": f"emulated: staging copies paced to {args.link_gbs} "
                      "GB/s; the device tier is host memory",
              "kmp_blocktime": os.environ["KMP_BLOCKTIME"], "runs": rows}
    text = json.dumps(result, indent=2)
    print(text)
    if args.output:
        pathlib.Path(args.output).write_text(text + "\n")


if __name__ == "__main__":
    main()
