#!/usr/bin/env python3
"""The GPU bundle: programs compiled ahead of time here, checked on a GPU
machine that has no compiler (issue 24, docs/gpu.md).

  gpu_bundle.py build --out DIR [--quick]    on the CPU machine (hgc, clang)
  gpu_bundle.py check --bundle DIR --out DIR on the GPU machine (python3 and
                                             numpy only)

`build` compiles each case's decode step with `hgc compile --target nvptx
--chip sm_90 --emit obj` (PTX embedded, the driver JITs it for newer GPUs),
links it into a shared library against libhgc_runtime and libomp, and
writes DIR: programs/, bin/ (hgc-aot-run, hgc-kv-tier-check), lib/ (the
runtime, libomp), this script, reference.py (the float64 references) and
manifest.json. Nothing in it links libMLIR or libLLVM.

`check` draws each case's inputs with numpy, runs the program through
hgc-aot-run (HGC_RT_GPU_TIMING=1), compares against float64 numpy, times
the bench cases against the GPU's DRAM bandwidth bound, runs the runtime's
tier check, and writes gpu-check.json and gpu-check.log into --out, with a
one-line verdict. Where the runtime finds no GPU the kernels run on its
SIMT emulator (the CI rehearsal): numerics hold, times mean nothing.
"""
import argparse
import json
import os
import pathlib
import shutil
import subprocess
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
BYTES = {"f16": 2, "bf16": 2, "f32": 4}
TOLERANCE = {"f32": 2e-5, "f16": 2e-3, "bf16": 1.5e-2}


# --------------------------------------------------------------------------
# Cases
# --------------------------------------------------------------------------

def cases(quick):
    """Each case: a decode step (batch, q/kv heads, head dim, dtype, tokens),
    the placement it compiles with, and what `check` does with it."""
    out = []

    def add(kind, elt, b, hq, hkv, d, t, policy=("--policy=full",),
            lengths=False, repeat=1):
        name = (f"{kind}-{elt}-b{b}-h{hq}x{hkv}-d{d}-t{t}"
                + ("-lengths" if lengths else "")
                + "".join("-" + p.split("=")[1] for p in policy
                          if p.startswith("--policy") and "full" not in p))
        out.append({"name": name, "kind": kind, "dtype": elt, "batch": b,
                    "q_heads": hq, "kv_heads": hkv, "head_dim": d,
                    "tokens": t, "policy": list(policy), "lengths": lengths,
                    "repeat": repeat})

    dims = (64, 128) if quick else (64, 128, 256)
    heads = ((8, 8), (32, 8)) if quick else ((8, 8), (32, 8), (16, 2))
    for elt in ("f16", "bf16", "f32"):
        for d in dims:
            for hq, hkv in heads:
                # One KV split, then several (split-K merged on the device).
                for t in ((300,) if quick else (300, 5000)):
                    add("dense", elt, 2, hq, hkv, d, t)
    add("dense", "f16", 3, 32, 8, 128, 700, lengths=True)
    for policy in ("hgca", "quest"):
        block = ("--block=16",) if policy == "quest" else ()
        args = (f"--policy={policy}", "--sink=4", "--window=256",
                "--budget=0.1") + block
        add("hybrid", "f32", 2, 32, 8, 128, 1200 if quick else 4000, args)
    bench = ([("f16", 4096)] if quick else
             [("f16", 4096), ("f16", 32768), ("f16", 131072), ("bf16", 32768),
              ("bf16", 131072), ("f32", 32768)])
    for elt, t in bench:
        add("bench", elt, 1, 32, 8, 128, t, repeat=3 if quick else 20)
    return out


def program(case):
    """The decode step: bind the KV, attend one query token per sequence."""
    b, hq, hkv = case["batch"], case["q_heads"], case["kv_heads"]
    d, t, elt = case["head_dim"], case["tokens"], case["dtype"]
    q, k = f"tensor<{b}x{hq}x{d}x{elt}>", f"tensor<{b}x{hkv}x{t}x{d}x{elt}>"
    cache = f"!hgc.kv_cache<{hkv}x{d}x{elt}>"
    if case["lengths"]:
        return f"""
func.func @main(%q: {q}, %k: {k}, %v: {k}, %n: tensor<{b}xi32>) -> {q} {{
  %c = hgc.bind_kv %k, %v lengths(%n : tensor<{b}xi32>) : {k}, {k} -> {cache}
  %o = hgc.decode_attention %q, %c : {q}, {cache} -> {q}
  return %o : {q}
}}
"""
    return f"""
func.func @main(%q: {q}, %k: {k}, %v: {k}) -> {q} {{
  %c = hgc.bind_kv %k, %v : {k}, {k} -> {cache}
  %o = hgc.decode_attention %q, %c : {q}, {cache} -> {q}
  return %o : {q}
}}
"""


# --------------------------------------------------------------------------
# build (the CPU machine)
# --------------------------------------------------------------------------

def build(args):
    root = HERE.parent
    build_dir = pathlib.Path(os.environ.get("HGC_BUILD_DIR", root / "build"))
    llvm = pathlib.Path("/usr/lib/llvm-22")
    out = pathlib.Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    for sub in ("programs", "bin", "lib"):
        (out / sub).mkdir(parents=True)
    shutil.copy(build_dir / "lib" / "libhgc_runtime.so", out / "lib")
    omp = (llvm / "lib" / "libomp.so.5").resolve()
    shutil.copy(omp, out / "lib" / "libomp.so.5")
    for tool in ("hgc-aot-run", "hgc-kv-tier-check"):
        shutil.copy(build_dir / "bin" / tool, out / "bin")
    shutil.copy(__file__, out / "gpu_bundle.py")
    shutil.copy(root / "test" / "python" / "reference.py", out)
    manifest = {"chip": args.chip, "built": time.strftime("%Y-%m-%d %H:%M"),
                "cases": []}
    work = out / "programs"
    for case in cases(args.quick):
        source = work / (case["name"] + ".mlir")
        source.write_text(program(case))
        obj = work / (case["name"] + ".o")
        run([build_dir / "bin" / "hgc", "compile", source, "--target",
             "nvptx", "--chip", args.chip, *case["policy"], "--emit", "obj",
             "-o", obj])
        library = work / (case["name"] + ".so")
        run([llvm / "bin" / "clang", "-shared", "-fuse-ld=lld", obj, "-o",
             library, f"-L{out / 'lib'}", "-lhgc_runtime", "-l:libomp.so.5",
             "-lm", "-Wl,-rpath,$ORIGIN/../lib"])
        source.unlink()
        obj.unlink()
        case["program"] = f"programs/{library.name}"
        manifest["cases"].append(case)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    print(f"gpu-bundle: {len(manifest['cases'])} programs, "
          f"{size / 2**20:.1f} MiB in {out}")


def run(command):
    done = subprocess.run([str(c) for c in command], capture_output=True,
                          text=True)
    if done.returncode != 0:
        sys.exit(f"gpu-bundle: {' '.join(map(str, command))}\n{done.stderr}")
    return done.stdout


# --------------------------------------------------------------------------
# check (the GPU machine)
# --------------------------------------------------------------------------

def check(args):
    import numpy as np
    sys.path.insert(0, str(HERE))
    import reference as ref

    bundle = pathlib.Path(args.bundle).resolve()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    manifest = json.loads((bundle / "manifest.json").read_text())
    env = dict(os.environ, HGC_RT_GPU_TIMING="1",
               LD_LIBRARY_PATH=str(bundle / "lib") + os.pathsep
               + os.environ.get("LD_LIBRARY_PATH", ""))
    log = open(out / "gpu-check.log", "w")

    def say(text):
        print(text)
        log.write(text + "\n")
        log.flush()

    results, failures = [], 0
    scratch = out / "scratch"
    scratch.mkdir(exist_ok=True)
    started = time.time()
    for case in manifest["cases"]:
        if args.only and args.only not in case["name"]:
            continue
        rng = np.random.default_rng(len(results) + 1)
        b, hq, hkv = case["batch"], case["q_heads"], case["kv_heads"]
        d, t, elt = case["head_dim"], case["tokens"], case["dtype"]
        raw = [rng.standard_normal(s).astype(np.float32)
               for s in ((b, hq, d), (b, hkv, t, d), (b, hkv, t, d))]
        numpy_type = {"f16": "float16", "f32": "float32", "bf16": "bf16"}[elt]
        fed, exact = zip(*(ref.as_kv(x, numpy_type) for x in raw))
        lengths = ([int(n) for n in rng.integers(t // 2, t + 1, size=b)]
                   if case["lengths"] else [t] * b)
        feeds = [(x.shape, np.ascontiguousarray(x)) for x in fed]
        if case["lengths"]:
            feeds.append(((b,), np.array(lengths, np.int32)))
        command = [str(bundle / "bin" / "hgc-aot-run"),
                   str(bundle / case["program"])]
        for i, (shape, array) in enumerate(feeds):
            path = scratch / f"in{i}.bin"
            array.tofile(path)
            command += ["--in", "x".join(map(str, shape)) + f":{path}"]
        result_path = scratch / "out.bin"
        command += ["--out", f"3:{BYTES[elt]}:{result_path}",
                    "--repeat", str(case["repeat"])]
        done = subprocess.run(command, capture_output=True, text=True,
                              env=env)
        row = {"name": case["name"], "kind": case["kind"]}
        if done.returncode != 0:
            row.update(ok=False, error=done.stderr.strip()[-400:])
            failures += 1
            say(f"FAIL {case['name']}: {row['error']}")
            results.append(row)
            continue
        timing = json.loads(done.stdout.strip().splitlines()[-1])
        row.update(timing)
        y = np.fromfile(result_path, np.uint16 if elt == "bf16" else
                        {"f16": np.float16, "f32": np.float32}[elt])
        y = (ref.bf16_to_float(y) if elt == "bf16"
             else y.astype(np.float64)).reshape(b, hq, d)
        q, k, v = exact
        if case["kind"] == "hybrid":
            opts = dict(p.lstrip("-").split("=") for p in case["policy"])
            want = ref.hybrid_decode(
                q, k, v, lengths, int(opts["sink"]), int(opts["window"]),
                float(opts["budget"]),
                block=int(opts["block"]) if "block" in opts else None)
            tolerance = 2e-5
        else:
            want, _ = ref.partial_attention(q, k, v, lengths)
            tolerance = TOLERANCE[elt]
        error = float(np.abs(y - want).max())
        row.update(max_abs_error=error, tolerance=tolerance,
                   ok=bool(error <= tolerance * (1 + np.abs(want).max())))
        # Emulated kernels' times say nothing about a GPU.
        if (case["kind"] == "bench" and timing["gpu_backend"] == "cuda"
                and timing["gpu_kernel_ms_per_call"] > 0):
            moved = 2 * b * hkv * t * d * BYTES[elt] + 2 * b * hq * d * 4
            gbps = moved / (timing["gpu_kernel_ms_per_call"] * 1e-3) / 1e9
            row.update(kernel_gbps=gbps)
            if timing["peak_bandwidth"] > 0:
                row.update(of_peak=gbps * 1e9 / timing["peak_bandwidth"])
        failures += not row["ok"]
        say(("ok  " if row["ok"] else "FAIL") + f" {case['name']}: error "
            f"{error:.2e} (tolerance {tolerance:g}), {timing['median_ms']:.3f}"
            f" ms/call, kernels {timing['gpu_kernel_ms_per_call']:.3f} ms "
            f"({timing['gpu_backend']})"
            + (f", {row['kernel_gbps']:.0f} GB/s" if "kernel_gbps" in row
               else "")
            + (f" = {100 * row['of_peak']:.0f}% of peak" if "of_peak" in row
               else ""))
        results.append(row)
    tier = subprocess.run([str(bundle / "bin" / "hgc-kv-tier-check")],
                          capture_output=True, text=True, env=env)
    tier_row = {"name": "kv-tiers", "kind": "runtime"}
    try:
        tier_row.update(json.loads(tier.stdout.strip()))
    except ValueError:
        tier_row.update(ok=False, error=(tier.stdout + tier.stderr)[-400:])
    tier_row["ok"] = bool(tier_row.get("ok")) and tier.returncode == 0
    failures += not tier_row["ok"]
    say(("ok  " if tier_row["ok"] else "FAIL") + f" kv-tiers: {tier_row}")
    results.append(tier_row)
    shutil.rmtree(scratch, ignore_errors=True)
    backends = {r.get("gpu_backend") for r in results if "gpu_backend" in r}
    summary = {"chip": manifest["chip"], "built": manifest["built"],
               "ran": time.strftime("%Y-%m-%d %H:%M"),
               "seconds": round(time.time() - started, 1),
               "gpu_backends": sorted(b for b in backends if b),
               "failures": failures, "results": results}
    (out / "gpu-check.json").write_text(json.dumps(summary, indent=1))
    verdict = (f"gpu-check: {'PASS' if not failures else 'FAIL'}: "
               f"{len(results) - failures}/{len(results)} ok on "
               f"{'/'.join(summary['gpu_backends']) or 'no backend'} in "
               f"{summary['seconds']} s")
    say(verdict)
    return 1 if failures else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build")
    b.add_argument("--out", required=True)
    b.add_argument("--chip", default="sm_90")
    b.add_argument("--quick", action="store_true",
                   help="a few cases (the CI rehearsal)")
    c = sub.add_parser("check")
    c.add_argument("--bundle", default=str(HERE))
    c.add_argument("--out", default=os.environ.get("OUT", "."))
    c.add_argument("--only", default="", help="cases whose name contains it")
    args = parser.parse_args()
    if args.command == "build":
        build(args)
        return 0
    return check(args)


if __name__ == "__main__":
    sys.exit(main())
