#!/usr/bin/env python3
"""What a decode step of a batch costs beyond its sequences' steps: each
selecting policy over a runtime cache (Llama-3 attention shape, f16, one
layer, --context tokens per sequence) at batch 1 and batch 4, through the
JIT. For batch > 1 the JIT copies the policy's key metadata (hca's int8
codes, sparf's channel-major keys and value sums, quest's summaries when its
block is the page) of every sequence into one buffer; that copy is reported
in gather_seconds[1]. Medians of --repeat steps after two warm-ups.

Prints JSON (--output FILE writes it too).
"""
import argparse
import json
import pathlib
import statistics
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "jit" / "python"))
import hgc_jit  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--context", type=int, default=16384)
    parser.add_argument("--repeat", type=int, default=8)
    parser.add_argument("--output")
    args = parser.parse_args()
    ctx = hgc_jit.Context(target="host", cache_dir="")
    rng = np.random.default_rng(0)
    rows = []
    for policy in ("hgca", "hca", "quest", "sparf"):
        for batch in (1, 4):
            config = hgc_jit.AttentionConfig(
                q_heads=32, kv_heads=8, head_dim=128, kv_dtype="f16",
                policy=policy, sink=4, window=1024, budget="0.05")
            cache = ctx.create_cache(config, layers=1, page_tokens=64)
            kernel = ctx.compile(config)
            for seq in range(batch):
                cache.add_sequence(seq)
                for _ in range(0, args.context, 8192):
                    kv = rng.standard_normal((2, 8, 8192, 128))
                    kv = kv.astype(np.float16)
                    cache.append(seq, 0, kv[0], kv[1])
            q = rng.standard_normal((batch, 32, 128)).astype(np.float32)
            times, gathers = [], []
            for step in range(args.repeat + 2):
                start = time.perf_counter()
                _, stats = cache.decode(kernel, 0, list(range(batch)), q)
                if step >= 2:
                    times.append(time.perf_counter() - start)
                    gathers.append(stats.gather_seconds[1])
            rows.append({"policy": policy, "batch": batch,
                         "step_ms": round(1e3 * statistics.median(times), 3),
                         "gather_ms": round(1e3 * statistics.median(gathers),
                                            3)})
            print(json.dumps(rows[-1]), file=sys.stderr)
    result = {"machine": "this machine: AMD Zen 3, 2 cores, no GPU",
              "context": args.context, "repeat": args.repeat, "rows": rows}
    text = json.dumps(result, indent=2) + "\n"
    if args.output:
        pathlib.Path(args.output).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
