#!/usr/bin/env python3
"""quest through the JIT over a runtime cache whose pages are, or are not,
its blocks: with blocks of one page, and sinks of whole pages, the selection
reads the runtime's per-page key summaries; otherwise (the default 4 sinks
included: the host tier's blocks then start mid-page) the step makes the
blocks' summaries from every key. One layer, Llama-3 attention shape (32 query heads, 8 KV
heads, head dim 128, f16), 64K tokens, 5% budget; medians of 10 steps.

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
    parser.add_argument("--context", type=int, default=65536)
    parser.add_argument("--output")
    args = parser.parse_args()
    ctx = hgc_jit.Context(target="host", cache_dir="")
    rng = np.random.default_rng(0)
    n = args.context
    rows = []
    for block, page, sink in ((16, 64, 4), (16, 16, 4), (16, 16, 16),
                              (64, 64, 64)):
        config = hgc_jit.AttentionConfig(
            q_heads=32, kv_heads=8, head_dim=128, kv_dtype="f16",
            policy="quest", sink=sink, window=1024, budget="0.05", block=block)
        cache = ctx.create_cache(config, layers=1, page_tokens=page)
        kernel = ctx.compile(config)
        cache.add_sequence(0)
        for _ in range(0, n, 8192):
            kv = rng.standard_normal((2, 8, 8192, 128)).astype(np.float16)
            cache.append(0, 0, kv[0], kv[1])
        q = rng.standard_normal((1, 32, 128)).astype(np.float32)
        times = []
        for step in range(12):
            start = time.perf_counter()
            cache.decode(kernel, 0, [0], q)
            if step >= 2:
                times.append(time.perf_counter() - start)
        rows.append({"block": block, "page_tokens": page, "sink": sink,
                     "step_ms": round(1e3 * statistics.median(times), 3)})
        print(json.dumps(rows[-1]), file=sys.stderr)
    result = {"machine": "this machine: AMD Zen 3, 2 cores, no GPU",
              "context": n, "rows": rows}
    text = json.dumps(result, indent=2) + "\n"
    if args.output:
        pathlib.Path(args.output).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
