#!/usr/bin/env python3
"""A JAX decoder's decode step through `hgc run`, against JAX itself.

The model is test/python/jax_decoder.py at real weight sizes (4 layers,
hidden 1024, 16/4 heads of 64, ffn 2816, vocab 8192: 214 MB of f32
weights) over a preallocated 8K cache (batch 1, 4096 tokens filled),
layers scanned (one stablehlo.while) and unrolled. Rows per form:

- `compile_s`: `hgc compile` to an object file, fresh process (wall);
- `hgc_run_s`: `hgc run` in a fresh process with its program cached
  (reads the weights and caches from .npy, runs, writes the results),
  median of --repeat; `hgc_step_s`: the "ran in" part of it;
- `jax_step_s`: the jitted step in this process, warm, median of
  --repeat (JAX keeps the weights on its device between steps);
- `max_logit_error`: hgc's logits against JAX's (one step), next to the
  largest logit (`max_logit`).

    jax_decode.py [--repeat 5] [--quick] > results.json
"""
import argparse
import dataclasses
import json
import os
import pathlib
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "test" / "python"))
import jax_decoder  # noqa: E402

HGC = ROOT / "build" / "bin" / "hgc"
REAL = dict(layers=4, batch=1, cache=8192, dim=1024, heads=16, kv_heads=4,
            head_dim=64, hidden=2816, vocab=8192)
QUICK = dict(layers=2, batch=1, cache=1024, dim=256, heads=8, kv_heads=2,
             head_dim=32, hidden=512, vocab=1024)


def hgc_run(program, feeds, out, cache_dir):
    start = time.perf_counter()
    result = subprocess.run(
        [HGC, "run", program, *feeds, "--output-dir", out, "--cache-dir",
         cache_dir], capture_output=True, text=True, check=True)
    wall = time.perf_counter() - start
    ran = re.search(r"ran in ([0-9.]+) s", result.stderr)
    return wall, float(ran.group(1)) if ran else float("nan")


def measure(config, repeat, folder):
    pretty, _, args, step = jax_decoder.export(config, filled=config.cache // 2)
    program = folder / "step.mlir"
    program.write_text(pretty)
    feeds = []
    for i, array in enumerate(jax_decoder.flatten(args)):
        path = folder / f"arg{i}.npy"
        np.save(path, jax_decoder.to_npy(array))
        feeds += ["--input", f"arg{i}={path}"]
    start = time.perf_counter()
    subprocess.run([HGC, "compile", program, "--emit", "obj", "-o",
                    folder / "step.o"], capture_output=True, check=True)
    compile_s = time.perf_counter() - start
    cache_dir = folder / "cache"
    hgc_run(program, feeds, folder / "out", cache_dir)  # compiles, caches
    runs = [hgc_run(program, feeds, folder / "out", cache_dir)
            for _ in range(repeat)]
    want = step(*args)
    want[0].block_until_ready()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        step(*args)[0].block_until_ready()
        times.append(time.perf_counter() - start)
    got = np.load(folder / "out" / "result_0_.npy")
    weights = sum(np.asarray(a).nbytes
                  for a in jax_decoder.flatten(args[4]))
    return {"scanned": config.scanned, "weights_mb": round(weights / 1e6),
            "compile_s": round(compile_s, 3),
            "hgc_run_s": round(statistics.median(r[0] for r in runs), 4),
            "hgc_step_s": round(statistics.median(r[1] for r in runs), 4),
            "jax_step_s": round(statistics.median(times), 4),
            "max_logit_error": float(np.abs(got - np.asarray(want[0])).max()),
            "max_logit": float(np.abs(np.asarray(want[0])).max())}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--quick", action="store_true",
                        help="a small model (a smoke run, not a result)")
    arguments = parser.parse_args()
    sizes = QUICK if arguments.quick else REAL
    rows = []
    for scanned in (True, False):
        config = jax_decoder.Config(scanned=scanned, **sizes)
        with tempfile.TemporaryDirectory() as folder:
            rows.append(measure(config, arguments.repeat,
                                pathlib.Path(folder)))
    print(json.dumps({"machine": platform.processor() or platform.machine(),
                      "cpus": os.cpu_count(), "model": sizes,
                      "repeat": arguments.repeat, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
