#!/usr/bin/env python3
"""The split scheduler (hgc_scheduler_*) on real step times: an emulated
two-tier run on this CPU-only machine.

One layer of Llama-3-8B's attention shape (32 q heads, 8 KV heads, head dim
128, f16) over --context tokens. The "device" tier is a dense hgc kernel
over the last `window` tokens on one thread; the "host" tier is the
--host-policy kernel at --budget over the other tokens on a second thread
(each through the JIT, one OpenMP thread per call; ctypes releases the GIL,
so the two run at once on the two cores, as a GPU and a CPU would). Each
step's two measured times go to the scheduler; when it moves the window,
the tokens are re-split between the two caches (not timed). From a
deliberately bad first window (--window, default 1024: the host does nearly
all the work) the run reports, per step, the window, both times and their
imbalance, the first step at which the tiers finish within 15% of each
other, and the moves after it.

Prints JSON (--output FILE writes it too).
"""
import argparse
import json
import pathlib
import platform
import statistics
import sys
import threading
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "jit" / "python"))
import hgc_jit  # noqa: E402

Q_HEADS, KV_HEADS, HEAD_DIM = 32, 8, 128


class Tier:
    """One tier: its own context (one thread), kernel and cache."""

    def __init__(self, config):
        self.ctx = hgc_jit.Context(target="host", threads=1, cache_dir="")
        self.config = config
        self.kernel = self.ctx.compile(config)
        self.cache = None

    def load(self, keys, values):
        self.cache = self.ctx.create_cache(self.config, layers=1,
                                           page_tokens=64)
        self.cache.add_sequence(0)
        for start in range(0, keys.shape[1], 8192):
            self.cache.append(0, 0, keys[:, start:start + 8192],
                              values[:, start:start + 8192])

    def step(self, query, repeat, out, index):
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            self.cache.decode(self.kernel, 0, [0], query)
            times.append(time.perf_counter() - start)
        out[index] = statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--context", type=int, default=65536)
    parser.add_argument("--window", type=int, default=1024)
    parser.add_argument("--host-policy", default="sparf")
    parser.add_argument("--budget", default="0.05")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=5,
                        help="decode calls per tier per step (median)")
    parser.add_argument("--output")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    n = args.context
    keys = rng.standard_normal((KV_HEADS, n, HEAD_DIM)).astype(np.float16)
    values = rng.standard_normal((KV_HEADS, n, HEAD_DIM)).astype(np.float16)
    query = rng.standard_normal((1, Q_HEADS, HEAD_DIM)).astype(np.float32)
    shape = dict(q_heads=Q_HEADS, kv_heads=KV_HEADS, head_dim=HEAD_DIM,
                 kv_dtype="f16")
    device = Tier(hgc_jit.AttentionConfig(policy="full", **shape))
    # The host tier's own sinks and window are a few tokens: nearly all of
    # its tokens go through the policy's selection.
    host = Tier(hgc_jit.AttentionConfig(
        policy=args.host_policy, sink=4, window=64, budget=args.budget,
        **shape))
    scheduler = hgc_jit.Scheduler(context=n, window=args.window,
                                  min_window=1024, max_window=n - 4096)
    rows = []
    window = None
    for step in range(args.steps):
        split = scheduler.split
        if split.window != window:
            window = split.window
            device.load(keys[:, n - window:], values[:, n - window:])
            host.load(keys[:, :n - window], values[:, :n - window])
        out = [0.0, 0.0]
        threads = [threading.Thread(target=tier.step,
                                    args=(query, args.repeat, out, i))
                   for i, tier in enumerate((device, host))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        next_split = scheduler.observe(out[0], out[1])
        rows.append({"step": step, "window": window,
                     "device_ms": round(1e3 * out[0], 3),
                     "host_ms": round(1e3 * out[1], 3),
                     "imbalance": round(next_split.imbalance, 3),
                     "moved": bool(next_split.moved)})
        print(json.dumps(rows[-1]), file=sys.stderr)
    balanced = next((r["step"] for r in rows
                     if abs(r["imbalance"]) <= 0.15), None)
    after = rows[balanced + 1:] if balanced is not None else []
    result = {
        "machine": "this machine: AMD Zen 3, 2 cores, no GPU (the device "
                   "tier emulated: a dense hgc kernel on one core)",
        "context": n, "host_policy": args.host_policy,
        "budget": args.budget, "first_window": args.window,
        "steps": args.steps, "repeat": args.repeat,
        "first_step_within_15_percent": balanced,
        "moves_after": sum(r["moved"] for r in after),
        "worst_imbalance_after": (max(abs(r["imbalance"]) for r in after)
                                  if after else None),
        "final_window": rows[-1]["window"],
        "rows": rows,
        "python": platform.python_version(),
    }
    text = json.dumps(result, indent=2) + "\n"
    if args.output:
        pathlib.Path(args.output).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
