#!/usr/bin/env python3
"""Decode loops over graphs real exporters wrote (test/models: transformers
Llama, Llama f16, Gemma-2, Phi-3, GPT-2 through torch.onnx's TorchScript and
dynamo exporters, Qwen2 through dynamo): how many times a session compiles
in a 100-step greedy loop, what the compiles cost, and the warm step time
against onnxruntime.

Each row: one hgc session (--policy full: exact, so the logits compare)
runs batch 1 from a random past of --past tokens for --steps greedy steps,
its present KV fed back as the next past; then one onnxruntime session
(same threads) runs the same inputs (384 + 100 stays within GPT-2's 512
learned positions). Compiles are the steps whose run compiled a program
(ModelRunStats.compiled) and their wall time; step times are medians over
the steps after the second. The largest difference of hgc's logits from
onnxruntime's over the loop is reported.

    export_decode_loop.py [--steps 100] [--past 384] > results.json
"""
import argparse
import json
import os
import pathlib
import platform
import statistics
import sys
import time

import numpy as np
import onnx
import onnxruntime

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "jit" / "python"))
import hgc_jit  # noqa: E402

MODELS = ROOT / "test" / "models"
EXPORTS = [(arch, exporter)
           for arch in ("llama", "llama_fp16", "gemma2", "phi3", "gpt2")
           for exporter in ("torchscript", "dynamo")] + [("qwen2", "dynamo")]


def first_feeds(path, past, seed=0):
    model = onnx.load(path, load_external_data=False)
    rng = np.random.default_rng(seed)
    feeds = {}
    for info in model.graph.input:
        dims = info.type.tensor_type.shape.dim
        if info.name == "input_ids":
            feeds[info.name] = rng.integers(0, 128, (1, 1)).astype(np.int64)
        elif info.name == "attention_mask":
            feeds[info.name] = np.ones((1, past + 1), np.int64)
        elif info.name == "position_ids":
            feeds[info.name] = np.array([[past]], np.int64)
        else:
            dtype = (np.float16 if info.type.tensor_type.elem_type ==
                     onnx.TensorProto.FLOAT16 else np.float32)
            shape = (1, dims[1].dim_value, past, dims[3].dim_value)
            feeds[info.name] = rng.standard_normal(shape).astype(dtype)
    return feeds


def next_feeds(feeds, names, outputs):
    logits = outputs[names.index("logits")]
    token = np.argmax(logits[:, -1], axis=-1).astype(np.int64)[:, None]
    total = feeds["attention_mask"].shape[1]
    feeds = dict(feeds, input_ids=token,
                 attention_mask=np.ones((1, total + 1), np.int64))
    if "position_ids" in feeds:
        feeds["position_ids"] = feeds["position_ids"] + 1
    for i, name in enumerate(names):
        if name.startswith("present."):
            feeds["past_key_values." + name[len("present."):]] = outputs[i]
    return feeds


def run_loop(path, steps, past, threads):
    """The hgc loop first (its feeds kept), then onnxruntime over the same
    feeds: alternating engines step by step would time each against the
    other's spinning worker threads on this 2-core machine."""
    session = hgc_jit.Session(path, policy="full", threads=threads,
                              cache_dir="")
    names = session.output_names
    logits = names.index("logits")
    feeds = first_feeds(path, past)
    compiles, hgc_times, trace = [], [], []
    for step in range(steps):
        start = time.perf_counter()
        got = session.run(None, feeds)
        elapsed = time.perf_counter() - start
        if session.last_stats.compiled:
            compiles.append({"step": step, "seconds": round(elapsed, 3)})
        elif step >= 2:
            hgc_times.append(elapsed)
        trace.append((feeds, got[logits].copy()))
        feeds = next_feeds(feeds, names, [np.array(x) for x in got])
    time.sleep(0.5)  # let hgc's OpenMP workers go idle
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    reference = onnxruntime.InferenceSession(str(path), options)
    ort_times, worst = [], 0.0
    for step, (feeds, hgc_logits) in enumerate(trace):
        start = time.perf_counter()
        want = reference.run(["logits"], feeds)[0]
        if step >= 2:
            ort_times.append(time.perf_counter() - start)
        worst = max(worst, float(np.max(np.abs(
            hgc_logits.astype(np.float64) - want))))
    hgc_ms = statistics.median(hgc_times) * 1e3
    ort_ms = statistics.median(ort_times) * 1e3
    return {"compiles": compiles, "hgc_step_ms": round(hgc_ms, 3),
            "onnxruntime_step_ms": round(ort_ms, 3),
            "hgc_over_onnxruntime": round(hgc_ms / ort_ms, 3),
            "max_abs_logit_difference": worst}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--past", type=int, default=384)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    args = parser.parse_args()
    rows = []
    for arch, exporter in EXPORTS:
        path = MODELS / f"{arch}_{exporter}.onnx"
        row = {"model": path.name, **run_loop(path, args.steps, args.past,
                                              args.threads)}
        print(json.dumps(row), file=sys.stderr)
        rows.append(row)
    json.dump({"machine": f"{platform.processor() or platform.machine()}, "
                          f"{os.cpu_count()} cores",
               "steps": args.steps, "past": args.past,
               "threads": args.threads, "rows": rows}, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
