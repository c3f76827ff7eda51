#!/usr/bin/env python3
"""Compile latency of libhgc's hgc_compile: first compile (empty caches),
cached in the process (the in-memory table), and cached on disk (a new
process linking the object file). Each measurement in its own fresh process
where it must be; medians over --repeat runs. Prints JSON."""
import argparse
import json
import pathlib
import statistics
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[1]

CHILD = """
import sys, time
sys.path.insert(0, {python!r})
import hgc_jit
ctx = hgc_jit.Context(target="host", cache_dir={cache!r})
config = hgc_jit.AttentionConfig(q_heads=32, kv_heads=8, head_dim=128,
                                 kv_dtype="f16", policy={policy!r},
                                 window=1024, budget="0.05")
t = time.perf_counter(); kernel = ctx.compile(config)
first = time.perf_counter() - t
again = []
for _ in range(20):
    t = time.perf_counter(); ctx.compile(config)
    again.append(time.perf_counter() - t)
again.sort()
print(kernel.info()["origin"], first, again[len(again) // 2])
"""


def child(cache, policy):
    script = CHILD.format(python=str(ROOT / "jit" / "python"),
                          cache=str(cache), policy=policy)
    out = subprocess.run([sys.executable, "-c", script], check=True,
                         capture_output=True, text=True).stdout.split()
    return out[0], float(out[1]), float(out[2])


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args()
    results = {}
    for policy in ("full", "hgca", "quest"):
        first, memory, disk = [], [], []
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory() as cache:
                origin, seconds, cached = child(cache, policy)
                assert origin == "compiled", origin
                first.append(seconds)
                memory.append(cached)
                origin, seconds, _ = child(cache, policy)
                assert origin == "disk", origin
                disk.append(seconds)
        results[policy] = {
            "first_ms": 1e3 * statistics.median(first),
            "cached_in_process_ms": 1e3 * statistics.median(memory),
            "cached_on_disk_ms": 1e3 * statistics.median(disk),
        }
        results[policy]["first_over_disk"] = (
            results[policy]["first_ms"] / results[policy]["cached_on_disk_ms"])
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
