#!/usr/bin/env python3
"""The device tier's decode kernel against the GPU's DRAM bandwidth bound.

For each shape, a decode step whose whole KV is on the device tier
(--policy full) is compiled for --target nvptx and run by hgc-runner
--repeat with HGC_RT_GPU_TIMING=1: the runtime times each launch with CUDA
events (split kernel + split merge). The bound is the bytes the kernel must
read (K and V, plus the query) over the device's theoretical bandwidth
(memory clock x bus width x 2, from the driver). Rows: shape, median kernel
time, achieved GB/s, share of the bound. Writes JSON (--output).

Without a CUDA device the kernels would run on the SIMT emulator, whose
times say nothing about a GPU: the script says so and exits 0 unless
--emulated asks for one small emulated row (the path, not a speed).
"""
import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
BUILD = pathlib.Path(os.environ.get("HGC_BUILD_DIR", ROOT / "build"))
BYTES = {"f16": 2, "bf16": 2, "f32": 4}
# (batch, q_heads, kv_heads, head_dim, kv dtype, tokens)
SHAPES = [(1, 32, 8, 128, kv, t) for kv in ("f16", "bf16")
          for t in (4096, 32768, 131072)] + [
    (8, 32, 8, 128, "f16", 32768), (1, 64, 8, 128, "f16", 131072),
    (1, 32, 32, 64, "f16", 32768), (1, 16, 2, 256, "bf16", 65536)]


def program(b, hq, hkv, d, kv, t):
    q, k = f"tensor<{b}x{hq}x{d}x{kv}>", f"tensor<{b}x{hkv}x{t}x{d}x{kv}>"
    return f"""
func.func @main(%q: {q}, %k: {k}, %v: {k}) -> {q} {{
  %c = hgc.bind_kv %k, %v : {k}, {k} -> !hgc.kv_cache<{hkv}x{d}x{kv}>
  %o = hgc.decode_attention %q, %c : {q}, !hgc.kv_cache<{hkv}x{d}x{kv}> -> {q}
  return %o : {q}
}}"""


def array(shape, kv, rng):
    x = rng.standard_normal(shape).astype(np.float32)
    if kv == "bf16":
        return (x.view(np.uint32) >> 16).astype(np.uint16)
    return x.astype(np.float16 if kv == "f16" else np.float32)


def measure(shape, repeats, chip, work):
    b, hq, hkv, d, kv, t = shape
    rng = np.random.default_rng(0)
    source = work / "step.mlir"
    source.write_text(program(*shape))
    args = [str(BUILD / "bin" / "hgc-runner"), str(source), "--split",
            "--policy=full", "--target=nvptx", f"--chip={chip}",
            f"--repeat={repeats}", "--output-dir", str(work / "out")]
    for i, s in enumerate([(b, hq, d), (b, hkv, t, d), (b, hkv, t, d)]):
        np.save(work / f"arg{i}.npy", array(s, kv, rng))
        args.append(f"--input=arg{i}={work / f'arg{i}.npy'}")
    env = dict(os.environ, HGC_RT_GPU_TIMING="1")
    result = subprocess.run(args, capture_output=True, text=True, env=env,
                            timeout=1800)
    if result.returncode != 0:
        sys.exit(f"gpu_decode: {shape}: {result.stderr.strip()}")
    report = json.loads(result.stdout.strip().splitlines()[-1])
    read = 2 * b * hkv * t * d * BYTES[kv] + b * hq * d * BYTES[kv]
    row = dict(batch=b, q_heads=hq, kv_heads=hkv, head_dim=d, kv_dtype=kv,
               tokens=t, backend=report["backend"],
               kernel_ms=report["median_kernel_s"] * 1e3,
               bytes_read=read)
    peak = report["peak_bandwidth_bytes_per_s"]
    if peak > 0 and report["median_kernel_s"] > 0:
        row["achieved_gb_per_s"] = read / report["median_kernel_s"] / 1e9
        row["peak_gb_per_s"] = peak / 1e9
        row["bound_ms"] = read / peak * 1e3
        row["share_of_bound"] = row["bound_ms"] / row["kernel_ms"]
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chip", default="sm_90")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--output", type=pathlib.Path,
                        default=ROOT / "docs" / "bench" / "gpu.json")
    parser.add_argument("--emulated", action="store_true",
                        help="without a GPU, run one small emulated row")
    options = parser.parse_args()
    sys.path.insert(0, str(ROOT / "test" / "python"))
    from test_gpu_device import gpu_backend
    backend = gpu_backend()
    shapes = SHAPES
    if backend != "cuda":
        if not options.emulated:
            print("gpu_decode: skipped: no CUDA device (the runtime would "
                  "emulate the GPU; its times are not GPU times)")
            return
        shapes, options.repeats = [(1, 8, 2, 64, "f16", 256)], 3
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for shape in shapes:
            row = measure(shape, options.repeats, options.chip,
                          pathlib.Path(work))
            rows.append(row)
            line = (f"{row['backend']:8} b{row['batch']} {row['q_heads']}/"
                    f"{row['kv_heads']} heads d{row['head_dim']} "
                    f"{row['kv_dtype']:4} {row['tokens']:>7} tokens: "
                    f"{row['kernel_ms']:9.3f} ms")
            if "share_of_bound" in row:
                line += (f"  {row['achieved_gb_per_s']:7.0f} GB/s of "
                         f"{row['peak_gb_per_s']:.0f}  "
                         f"({100 * row['share_of_bound']:.0f}% of the bound)")
            print(line, flush=True)
    if backend == "cuda":
        options.output.parent.mkdir(parents=True, exist_ok=True)
        options.output.write_text(json.dumps(rows, indent=1) + "\n")
        print(f"gpu_decode: wrote {options.output}")


if __name__ == "__main__":
    main()
