#!/usr/bin/env python3
"""The main job: a Llama-style ONNX decoder, decoded with hybrid attention.

Builds the model (examples/llama/build_model.py), prints hgc's placement
plan, then runs a decode loop over a long synthetic past in three warm
sessions: hgc with the hybrid policy, hgc with --policy full (exact), and
onnxruntime, all on the same threads. onnxruntime decodes first (its greedy
tokens drive every session). hgc's sessions keep the KV in growing buffers
(Session append_in_place): each step writes the new token's key and value
after the past in place and its present, a view of the buffer, is the next
step's past, so the past is never copied; onnxruntime copies past ++ new
into a fresh present every step, as its ONNX interface requires. hgc
compiles a program per input signature and makes the past length dynamic
once it changes, so only the first two steps compile. Prints the compiles,
the steady-state median step times and the differences; fails when hgc's
exact result (logits and present KV) is not within 1e-4 of onnxruntime's.

    run_decode.py [--past 8192] [--steps 8] [--policy hgca] [--budget 0.05]
"""
import argparse
import os
import pathlib
import statistics
import subprocess
import sys
import time

import numpy as np
import onnx
import onnxruntime

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT / "jit" / "python"))
import build_model  # noqa: E402
import hgc_jit  # noqa: E402

HGC = ROOT / "build" / "bin" / "hgc"


def plan(model_path, feeds, placement):
    args = [str(HGC), "plan", str(model_path), *placement]
    for name, value in feeds.items():
        args += ["--shape", f"{name}=" + "x".join(map(str, value.shape))]
    result = subprocess.run(args, capture_output=True, text=True)
    if result.returncode:
        sys.exit(result.stderr.strip())
    return result.stdout


def in_buffers(feeds, room):
    """`feeds` with each past in a buffer `room` tokens longer: the past is
    the buffer's view of its first tokens (what hgc appends to in place)."""
    feeds = dict(feeds)
    for name, value in list(feeds.items()):
        if name.startswith("past_"):
            batch, heads, past, head = value.shape
            buffer = np.empty((batch, heads, past + room, head), value.dtype)
            buffer[:, :, :past] = value
            feeds[name] = buffer[:, :, :past]
    return feeds


def settle():
    """Waits out the previous engine's worker threads: libomp's spin for
    KMP_BLOCKTIME (200 ms) after a parallel region, onnxruntime's after a
    run, and on 2 cores a spinning thread halves the next engine's speed."""
    time.sleep(0.5)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--past", type=int, default=8192)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--policy", default="hgca")
    parser.add_argument("--sink", type=int, default=4)
    parser.add_argument("--window", type=int, default=1024)
    parser.add_argument("--budget", default="0.05")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    args = parser.parse_args()
    placement = {"policy": args.policy, "sink": args.sink,
                 "window": args.window, "budget": args.budget}

    model_path = ROOT / "build" / "examples" / "llama.onnx"
    model_path.parent.mkdir(parents=True, exist_ok=True)
    model = build_model.build()
    onnx.save(model, model_path)
    feeds = build_model.decode_inputs(model, past=args.past)
    print(f"== {model_path.name}: 2 layers, 8 query / 2 KV heads, head dim 32;"
          f" past {args.past} tokens, {args.threads} threads")
    print(plan(model_path, feeds,
               [f"--{k}={v}" for k, v in placement.items()]), end="")

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = args.threads
    reference = onnxruntime.InferenceSession(str(model_path), options)
    names = [output.name for output in reference.get_outputs()]
    # onnxruntime decodes first (its greedy token and present KV make the
    # next step's inputs); then each hgc session and onnxruntime again run
    # the same steps, timed. One engine at a time: threads that spin after a
    # run (libomp's, onnxruntime's) would take the cores from the next one's.
    steps, wants = [], []
    times = {name: [] for name in (args.policy, "full", "onnxruntime")}
    for step in range(args.steps):
        steps.append(feeds)
        want = dict(zip(names, reference.run(None, feeds)))
        wants.append(want)
        token = int(np.argmax(want["logits"][0, -1]))
        feeds = dict(feeds)
        feeds["input_ids"] = np.array([[token]], np.int64)
        feeds["position_ids"] = feeds["position_ids"] + 1
        for name in names:
            if name.startswith("present_"):
                feeds[name.replace("present_", "past_")] = want[name]
    context = hgc_jit.Context(target="host", threads=args.threads)
    sessions = {args.policy: context.open_model(model_path,
                                                 append_in_place=True,
                                                 **placement),
                "full": context.open_model(model_path, policy="full",
                                           append_in_place=True)}
    compiles = {name: [] for name in sessions}
    logits = {}
    worst = hybrid_worst = 0.0
    for name, session in sessions.items():
        logits[name] = []
        settle()
        feeds = in_buffers(steps[0], args.steps)
        for step, (recorded, want) in enumerate(zip(steps, wants)):
            # onnxruntime's token and positions; the KV is the session's own.
            feeds = dict(feeds, input_ids=recorded["input_ids"],
                         position_ids=recorded["position_ids"])
            start = time.perf_counter()
            got = dict(zip(names, session.run(None, feeds)))
            elapsed = time.perf_counter() - start
            stats = session.last_stats
            if stats.compiled:
                compiles[name].append((step + 1, stats.compile_seconds))
            else:
                times[name].append(elapsed)
            logits[name].append(got["logits"])
            if name == "full":
                worst = max(worst, max(float(np.abs(got[n] - want[n]).max())
                                       for n in names))
            for output in names:
                if output.startswith("present_"):
                    feeds[output.replace("present_", "past_")] = got[output]
    # onnxruntime timed as hgc is: the same recorded steps, outputs dropped.
    settle()
    for step, feeds in enumerate(steps):
        start = time.perf_counter()
        reference.run(None, feeds)
        if step >= 1:  # its first run is its warm-up
            times["onnxruntime"].append(time.perf_counter() - start)
    for hybrid, exact in zip(logits[args.policy], logits["full"]):
        hybrid_worst = max(hybrid_worst,
                           float(np.abs(hybrid - exact).max()))
    scale = float(np.abs(want["logits"]).max())
    print(f"== {args.steps} decode steps, past {args.past} -> "
          f"{args.past + args.steps - 1}")
    for name in sessions:
        compiled = ", ".join(f"step {s} ({t:.2f} s)" for s, t in compiles[name])
        print(f"  hgc --policy {name:5s} compiled at {compiled}")
    median = {n: statistics.median(t) * 1e3 for n, t in times.items() if t}
    for name in times:
        label = "onnxruntime       " if name == "onnxruntime" else \
            f"hgc --policy {name:5s}"
        if name not in median:
            print(f"  {label} no warm steps (use more --steps)")
            continue
        ratio = median[name] / median.get("onnxruntime", median[name])
        print(f"  {label} median step {median[name]:7.2f} ms  ({ratio:.2f}x "
              f"onnxruntime, {len(times[name])} warm steps)")
    print(f"  max |hgc full - onnxruntime| = {worst:.3g}; max |logits "
          f"{args.policy} - full| = {hybrid_worst:.3g} (logits up to "
          f"{scale:.3g})")
    if worst > 1e-4:
        sys.exit(f"hgc --policy full differs from onnxruntime by {worst:.3g}")


if __name__ == "__main__":
    main()
