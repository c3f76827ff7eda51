#!/usr/bin/env python3
"""An inference engine's decode loop on libhgc (jit/python/hgc_jit.py).

Several layers, several sequences of different lengths with their KV in the
runtime's cache, and many decode steps: each step appends every sequence's
new K/V to every layer and runs the layer's hybrid kernel and the exact
(`full`) kernel on the same queries, printing how far hybrid is from exact
and what the step did per tier. The model is random (no weights): queries
and KV are drawn per step, with a few "heavy" past tokens per sequence that
the queries attend to, as real attention concentrates.
"""
import argparse
import pathlib
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "jit" /
                       "python"))
import hgc_jit  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--steps", type=int, default=32)
    p.add_argument("--lengths", default="600,2000,150,1200",
                   help="prompt tokens per sequence")
    p.add_argument("--q-heads", type=int, default=8)
    p.add_argument("--kv-heads", type=int, default=2)
    p.add_argument("--head-dim", type=int, default=64)
    p.add_argument("--policy", default="hgca")
    p.add_argument("--sink", type=int, default=4)
    p.add_argument("--window", type=int, default=256)
    p.add_argument("--budget", default="0.1")
    p.add_argument("--target", default="auto")
    p.add_argument("--tolerance", type=float, default=0.15,
                   help="largest |hybrid - full| accepted at any step")
    args = p.parse_args()

    ctx = hgc_jit.Context(target=args.target)
    common = dict(q_heads=args.q_heads, kv_heads=args.kv_heads,
                  head_dim=args.head_dim, kv_dtype="f16", sink=args.sink,
                  window=args.window)
    hybrid_config = hgc_jit.AttentionConfig(policy=args.policy,
                                            budget=args.budget, **common)
    full_config = hgc_jit.AttentionConfig(policy="full", **common)
    start = time.perf_counter()
    hybrid, full = ctx.compile(hybrid_config), ctx.compile(full_config)
    print(f"target {ctx.target}: kernels in {time.perf_counter() - start:.2f}"
          f" s ({hybrid.info()['origin']}, {full.info()['origin']})")
    cache = ctx.create_cache(hybrid_config, layers=args.layers,
                             page_tokens=32)
    rng = np.random.default_rng(0)
    lengths = [int(n) for n in args.lengths.split(",")]
    seqs = list(range(len(lengths)))
    kvh, d, qh = args.kv_heads, args.head_dim, args.q_heads
    # Per sequence and layer, a direction its heavy tokens and queries share.
    focus = rng.standard_normal((len(seqs), args.layers, kvh, d))

    def draw_kv(seq, layer, n, heavy=False):
        kv = rng.standard_normal((2, kvh, n, d))
        if heavy:
            kv[0, :, rng.choice(n, size=min(8, n), replace=False)] += \
                3 * focus[seq, layer][None]
        return kv.astype(np.float16)

    for seq, n in zip(seqs, lengths):
        cache.add_sequence(seq)
        for layer in range(args.layers):
            kv = draw_kv(seq, layer, n, heavy=True)
            cache.append(seq, layer, kv[0], kv[1])

    worst = 0.0
    for step in range(args.steps):
        totals = np.zeros(4)
        for layer in range(args.layers):
            for seq in seqs:
                kv = draw_kv(seq, layer, 1)
                cache.append(seq, layer, kv[0], kv[1])
            q = rng.standard_normal((len(seqs), qh, d))
            q += np.repeat(focus[:, layer], qh // kvh, axis=1)
            out, stats = cache.decode(hybrid, layer, seqs, q)
            exact, _ = cache.decode(full, layer, seqs, q)
            diff = float(np.abs(out - exact).max())
            worst = max(worst, diff)
            totals += [stats.tokens[0], stats.tokens[1],
                       stats.selected_tokens, stats.seconds]
        if step % max(1, args.steps // 8) == 0 or step == args.steps - 1:
            print(f"step {step:3d}: |hybrid - full| <= {worst:.2e}; device "
                  f"{int(totals[0])} tokens, host {int(totals[1])} "
                  f"({int(totals[2])} selected x heads), "
                  f"{1e3 * totals[3]:.2f} ms for {args.layers} layers")
    lengths_now = [cache.length(s, 0) for s in seqs]
    print(f"sequences grew to {lengths_now}")
    if not worst <= args.tolerance:
        print(f"FAILED: hybrid differs from full by {worst:.3g} "
              f"> {args.tolerance}")
        return 1
    print(f"every step: hybrid within {worst:.2e} of full "
          f"(tolerance {args.tolerance})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
