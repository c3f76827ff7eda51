#!/usr/bin/env python3
"""Error of HGCA decode attention against exact attention as the budget grows.

Structured KV like a real model's: attention sinks (the first tokens carry
large keys aligned with the query), a recent window of mildly relevant tokens,
a few heavy hitters scattered through the context, and low-relevance noise
elsewhere. For each host budget, one decode step runs through hgc-runner
(bind, place hgca, split, host loops) and its relative L2 error to the exact
output (same program with policy full) is reported.

  bench/budget_error.py [--build build] [--context 8192] [--markdown]
"""
import argparse
import pathlib
import subprocess
import sys
import tempfile

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
BUDGETS = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0]


def structured_kv(rng, batch, q_heads, kv_heads, context, dim, sinks=4,
                  heavy=16):
    q = rng.standard_normal((batch, q_heads, 1, dim)).astype(np.float32)
    k = 0.5 * rng.standard_normal((batch, kv_heads, context, dim))
    v = rng.standard_normal((batch, kv_heads, context, dim))
    group = q_heads // kv_heads
    for b in range(batch):
        for hk in range(kv_heads):
            direction = q[b, hk * group:(hk + 1) * group, 0].mean(0)
            direction /= np.linalg.norm(direction)
            # Scores (scale 1/8, |direction . q| ~ 4 for head dim 64): sinks
            # ~ +10, heavy hitters +3..+5, recent window ~ +1.5, the rest ~ 0.
            k[b, hk, :sinks] += 20.0 * direction
            k[b, hk, -64:] += 3.0 * direction
            hitters = rng.choice(np.arange(sinks, context - 64), heavy,
                                 replace=False)
            k[b, hk, hitters] += rng.uniform(6.0, 10.0, (heavy, 1)) * direction
    return [q, k[:, :, -1:].astype(np.float32), v[:, :, -1:].astype(np.float32),
            k[:, :, :-1].astype(np.float32), v[:, :, :-1].astype(np.float32)]


def program(batch, q_heads, kv_heads, past, dim):
    def t(*shape):
        return "tensor<" + "x".join(map(str, shape)) + "xf32>"
    q, kv, pkv = (t(batch, q_heads, 1, dim), t(batch, kv_heads, 1, dim),
                  t(batch, kv_heads, past, dim))
    return f"""
func.func @main(%q: {q}, %k: {kv}, %v: {kv}, %pk: {pkv}, %pv: {pkv}) -> {q} {{
  %y = hgc.attention %q, %k, %v past(%pk, %pv : {pkv}, {pkv}) {{is_causal = true}}
      : {q}, {kv}, {kv} -> {q}
  return %y : {q}
}}"""


def run(runner, workdir, source, arrays, args):
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "p.mlir").write_text(source)
    command = [str(runner), str(workdir / "p.mlir"), "--output-dir",
               str(workdir / "out")]
    for i, array in enumerate(arrays):
        np.save(workdir / f"a{i}.npy", array)
        command.append(f"--input=arg{i}={workdir / f'a{i}.npy'}")
    subprocess.run(command + args, check=True)
    return np.load(workdir / "out" / "out0.npy").astype(np.float64)


def measure(runner, budgets=BUDGETS, context=8192, batch=2, q_heads=8,
            kv_heads=2, dim=64, sink=4, window=64, seed=0):
    """Returns [(budget, relative L2 error)] for one structured decode step."""
    rng = np.random.default_rng(seed)
    arrays = structured_kv(rng, batch, q_heads, kv_heads, context, dim)
    source = program(batch, q_heads, kv_heads, context - 1, dim)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        exact = run(runner, tmp / "exact", source, arrays,
                    ["--split", "--policy=full"])
        errors = []
        for budget in budgets:
            got = run(runner, tmp / f"b{budget}", source, arrays,
                      ["--split", "--policy=hgca", f"--sink={sink}",
                       f"--window={window}", f"--budget={budget}"])
            errors.append((budget, float(np.linalg.norm(got - exact) /
                                         np.linalg.norm(exact))))
    return errors


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", default=str(ROOT / "build"))
    parser.add_argument("--context", type=int, default=8192)
    args = parser.parse_args()
    runner = pathlib.Path(args.build) / "bin" / "hgc-runner"
    errors = measure(runner, context=args.context)
    print(f"context {args.context}, batch 2, 8 query / 2 KV heads, head dim 64,"
          f" sink 4, window 64")
    print("| host budget | relative L2 error |")
    print("| --- | --- |")
    for budget, error in errors:
        print(f"| {budget:g} | {error:.3e} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
