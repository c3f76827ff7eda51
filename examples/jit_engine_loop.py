#!/usr/bin/env python3
"""An inference engine's decode loop on libhgc (jit/python/hgc_jit.py).

The engine owns its KV cache, paged as vLLM keeps it: per layer, key and
value caches of 16-token blocks [num_blocks, 16, kv_heads, head_dim] (f16),
blocks handed out from a shuffled free list, and a block table per sequence.
Several sequences of different lengths decode for many steps: each step
writes every sequence's new K/V into its last block (a fresh one when full)
and runs each layer's hybrid kernel and the exact (`full`) kernel over the
blocks where they are (hgc_decode_paged: no copy of the cache). The exact
kernel is checked against float64 numpy over the same tokens every step
(--tolerance, default 1e-4 on outputs of unit scale); the hybrid's distance
from exact and what each step did per tier are printed. The model is random
(no weights): queries and KV are drawn per step, with a few "heavy" past
tokens per sequence that the queries attend to, as real attention
concentrates.
"""
import argparse
import pathlib
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "jit" /
                       "python"))
import hgc_jit  # noqa: E402

BLOCK = 16


class PagedCache:
    """One layer's KV in blocks, and every sequence's table and length."""

    def __init__(self, blocks, kv_heads, head_dim, rng):
        shape = (blocks, BLOCK, kv_heads, head_dim)
        self.keys = np.zeros(shape, np.float16)
        self.values = np.zeros(shape, np.float16)
        self.free = list(rng.permutation(blocks))
        self.tables, self.lengths = {}, {}

    def append(self, seq, keys, values):
        """Writes tokens [kv_heads, n, head_dim] after the sequence's own."""
        table = self.tables.setdefault(seq, [])
        for t in range(keys.shape[1]):
            at = self.lengths.get(seq, 0)
            if at % BLOCK == 0:
                table.append(self.free.pop())
            self.keys[table[-1], at % BLOCK] = keys[:, t]
            self.values[table[-1], at % BLOCK] = values[:, t]
            self.lengths[seq] = at + 1

    def arrays(self, seqs):
        """block_tables [batch, max_blocks] and seq_lens [batch], int32."""
        width = max(len(self.tables[s]) for s in seqs)
        tables = np.full((len(seqs), width), -1, np.int32)
        for i, s in enumerate(seqs):
            tables[i, :len(self.tables[s])] = self.tables[s]
        return tables, np.array([self.lengths[s] for s in seqs], np.int32)

    def tokens(self, seq):
        """The sequence's keys and values [kv_heads, n, head_dim], float64."""
        n, table = self.lengths[seq], self.tables[seq]
        rows = [(table[t // BLOCK], t % BLOCK) for t in range(n)]
        keys = np.stack([self.keys[b, s] for b, s in rows], axis=1)
        values = np.stack([self.values[b, s] for b, s in rows], axis=1)
        return keys.astype(np.float64), values.astype(np.float64)


def exact_attention(q, keys, values):
    """float64 decode attention of q [q_heads, d] over [kv_heads, n, d]."""
    group = q.shape[0] // keys.shape[0]
    out = np.empty_like(q)
    for h in range(q.shape[0]):
        k, v = keys[h // group], values[h // group]
        s = k @ q[h] / np.sqrt(q.shape[1])
        p = np.exp(s - s.max())
        out[h] = p @ v / p.sum()
    return out


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
    p.add_argument("--tolerance", type=float, default=1e-4,
                   help="largest |full - float64 reference| accepted")
    args = p.parse_args()

    ctx = hgc_jit.Context(target="host")
    common = dict(q_heads=args.q_heads, kv_heads=args.kv_heads,
                  head_dim=args.head_dim, kv_dtype="f16", sink=args.sink,
                  window=args.window, kv_block_size=BLOCK, kv_layout="nhd")
    start = time.perf_counter()
    hybrid = ctx.compile(hgc_jit.AttentionConfig(
        policy=args.policy, budget=args.budget, **common))
    full = ctx.compile(hgc_jit.AttentionConfig(policy="full", **common))
    print(f"kernels for paged KV (blocks of {BLOCK}) in "
          f"{time.perf_counter() - start:.2f} s")
    rng = np.random.default_rng(0)
    lengths = [int(n) for n in args.lengths.split(",")]
    seqs = list(range(len(lengths)))
    kvh, d, qh = args.kv_heads, args.head_dim, args.q_heads
    blocks = sum(-(-(n + args.steps) // BLOCK) for n in lengths) + 8
    layers = [PagedCache(blocks, kvh, d, rng) for _ in range(args.layers)]
    # Per sequence and layer, a direction its heavy tokens and queries share.
    focus = rng.standard_normal((len(seqs), args.layers, kvh, d))

    def draw_kv(seq, layer, n, heavy=False):
        kv = rng.standard_normal((2, kvh, n, d))
        if heavy:
            kv[0, :, rng.choice(n, size=min(8, n), replace=False)] += \
                3 * focus[seq, layer][None]
        return kv.astype(np.float16)

    for seq, n in zip(seqs, lengths):
        for layer, cache in enumerate(layers):
            kv = draw_kv(seq, layer, n, heavy=True)
            cache.append(seq, kv[0], kv[1])

    worst_exact = worst_hybrid = 0.0
    for step in range(args.steps):
        totals = np.zeros(5)
        for layer, cache in enumerate(layers):
            for seq in seqs:
                kv = draw_kv(seq, layer, 1)
                cache.append(seq, kv[0], kv[1])
            q = rng.standard_normal((len(seqs), qh, d))
            q += np.repeat(focus[:, layer], qh // kvh, axis=1)
            q = q.astype(np.float32)
            tables, lens = cache.arrays(seqs)
            out, stats = hybrid.decode_paged(cache.keys, cache.values, tables,
                                             lens, q)
            exact, _ = full.decode_paged(cache.keys, cache.values, tables,
                                         lens, q)
            for i, seq in enumerate(seqs):
                want = exact_attention(q[i].astype(np.float64),
                                       *cache.tokens(seq))
                worst_exact = max(worst_exact,
                                  float(np.abs(exact[i] - want).max()))
            worst_hybrid = max(worst_hybrid,
                               float(np.abs(out - exact).max()))
            totals += [stats.tokens[0], stats.tokens[1],
                       stats.selected_tokens, stats.bytes_moved,
                       stats.seconds]
        if step % max(1, args.steps // 8) == 0 or step == args.steps - 1:
            print(f"step {step:3d}: device {int(totals[0])} tokens, host "
                  f"{int(totals[1])} ({int(totals[2])} selected x heads), "
                  f"{int(totals[3]) // 1024} KiB moved, "
                  f"{1e3 * totals[4]:.2f} ms for {args.layers} layers; "
                  f"|full - float64| <= {worst_exact:.1e}, |hybrid - full| "
                  f"<= {worst_hybrid:.2e}")
    print(f"sequences grew to {[layers[0].lengths[s] for s in seqs]}")
    if not worst_exact <= args.tolerance:
        print(f"FAILED: the exact kernel differs from float64 by "
              f"{worst_exact:.3g} > {args.tolerance}")
        return 1
    print(f"every step: exact within {worst_exact:.1e} of float64 "
          f"(tolerance {args.tolerance}); hybrid within {worst_hybrid:.2e} "
          f"of exact")
    return 0


if __name__ == "__main__":
    sys.exit(main())
