#!/usr/bin/env python3
"""The main job: a Llama-style ONNX decoder, decoded with hybrid attention.

Builds the model (examples/llama/build_model.py), prints hgc's placement
plan, then runs decode steps over a long synthetic past three ways: hgc with
the hybrid policy, hgc with --policy full (exact), and onnxruntime. Prints
each step's time and the differences; fails when hgc's exact result is not
within 1e-4 of onnxruntime. Each step feeds the present KV back as the past.

    run_decode.py [--past 8192] [--steps 2] [--policy hgca] [--budget 0.05]
"""
import argparse
import pathlib
import re
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnx
import onnxruntime

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import build_model  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
HGC = ROOT / "build" / "bin" / "hgc"


def hgc(command, model, feeds, workdir, placement, output_dir=None):
    args = [str(HGC), command, str(model), *placement]
    for name, value in feeds.items():
        path = workdir / f"{name}.npy"
        np.save(path, value)
        if command == "run":
            args += ["--input", f"{name}={path}"]
        else:
            args += ["--shape", f"{name}=" + "x".join(map(str, value.shape))]
    if output_dir:
        args += ["--output-dir", str(output_dir)]
    result = subprocess.run(args, capture_output=True, text=True)
    if result.returncode:
        sys.exit(result.stderr.strip())
    # "hgc: MODEL: compiled in X s, ran in Y s"
    match = re.search(r"compiled in ([0-9.]+) s, ran in ([0-9.]+) s",
                      result.stderr)
    return result.stdout, (match.groups() if match else None)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--past", type=int, default=8192)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--policy", default="hgca")
    parser.add_argument("--sink", type=int, default=4)
    parser.add_argument("--window", type=int, default=1024)
    parser.add_argument("--budget", default="0.05")
    args = parser.parse_args()
    placement = ["--policy", args.policy, "--sink", str(args.sink),
                 "--window", str(args.window), "--budget", args.budget]

    workdir = pathlib.Path(tempfile.mkdtemp(prefix="hgc-llama-"))
    model_path = ROOT / "build" / "examples" / "llama.onnx"
    model_path.parent.mkdir(parents=True, exist_ok=True)
    model = build_model.build()
    onnx.save(model, model_path)
    session = onnxruntime.InferenceSession(str(model_path))
    names = [o.name for o in session.get_outputs()]
    feeds = build_model.decode_inputs(model, past=args.past)

    plan, _ = hgc("plan", model_path, feeds, workdir, placement)
    print(f"== {model_path.name}: 2 layers, 8 query / 2 KV heads, head dim 32;"
          f" past {args.past} tokens")
    print(plan, end="")
    worst = 0.0
    for step in range(args.steps):
        past = feeds["position_ids"][0, 0]
        print(f"== decode step {step + 1} (past {past})")
        results, times = {}, {}
        for policy in (args.policy, "full"):
            out = workdir / f"out-{policy}"
            chosen = placement if policy == args.policy else ["--policy", "full"]
            _, times[policy] = hgc("run", model_path, feeds, workdir, chosen,
                                   out)
            results[policy] = {n: np.load(out / f"{n}.npy") for n in names}
        start = time.perf_counter()
        reference = dict(zip(names, session.run(None, feeds)))
        times["onnxruntime"] = time.perf_counter() - start
        exact = max(float(np.abs(results["full"][n] - reference[n]).max())
                    for n in names)
        hybrid = float(np.abs(results[args.policy]["logits"] -
                              results["full"]["logits"]).max())
        scale = float(np.abs(reference["logits"]).max())
        worst = max(worst, exact)
        for policy, note in ((args.policy, f"max |logits - full| = {hybrid:.3g}"
                              f" (logits up to {scale:.3g})"),
                             ("full", f"max |outputs - onnxruntime| = "
                                      f"{exact:.3g}")):
            compile_s, run_s = map(float, times[policy])
            print(f"  hgc --policy {policy:5s} run {run_s * 1e3:7.1f} ms "
                  f"(compile {compile_s:.2f} s)  {note}")
        print(f"  onnxruntime        run {times['onnxruntime'] * 1e3:7.1f} ms")
        # The next step: the new token's KV joins the past.
        token = int(np.argmax(results["full"]["logits"][0, -1]))
        feeds = dict(feeds)
        feeds["input_ids"] = np.array([[token]], np.int64)
        feeds["position_ids"] = feeds["position_ids"] + 1
        for name in names:
            if name.startswith("present_"):
                feeds[name.replace("present_", "past_")] = reference[name]
    if worst > 1e-4:
        sys.exit(f"hgc --policy full differs from onnxruntime by {worst:.3g}")


if __name__ == "__main__":
    main()
