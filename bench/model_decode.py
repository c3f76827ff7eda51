#!/usr/bin/env python3
"""Whole models: hgc's warm decode step against onnxruntime's, and what
compiling costs as the weights grow.

Step rows: the bundled example model (examples/llama/build_model.py
defaults) and a 264 MB one (4 layers, hidden 1024, 16/4 heads, ffn 2816,
vocab 8192, weights as external data), past 8K and 32K, batch 1 and 4. Each
row runs warm sessions, same threads: onnxruntime (the same inputs every
step: its ONNX interface copies past ++ new into a fresh present); hgc
--policy full and --policy hgca (sink 4, window 1024, 5%), each twice: over
the same inputs as onnxruntime (`*_copy`: the same copy) and as a decode
loop whose KV grows in place (Session append_in_place: the past is a view
of a buffer with room, each step writes its token after it and its present
view is the next past). Medians of --repeat steps after two warm-ups; the
first step's logits compared with onnxruntime's. `hgc_full_base_ms` is the
full step at past 16, the step without attention: `attention_share` of a
policy is (step - base) / step.

Compile rows: `hgc compile -o X.hgcm --dim batch=1 --dim seq=1` (the past
dynamic: one artifact for every decode step) of models with 14 MB, 264 MB
and 1.03 GB of weights in a fresh process each: wall time, peak RSS,
artifact size.

Fresh-process rows: one decode step (past 8K) in a new process, `hgc run`
with its program cached against onnxruntime's Python session (create, run).

    model_decode.py [--repeat 5] [--threads N] [--quick] > results.json
"""
import argparse
import json
import os
import pathlib
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnx
import onnxruntime

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples" / "llama"))
sys.path.insert(0, str(ROOT / "jit" / "python"))
import build_model  # noqa: E402
import hgc_jit  # noqa: E402

BIG = dict(hidden=1024, heads=16, kv_heads=4, ffn=2816, vocab=8192)
MODELS = {"bundled": dict(layers=2), "264MB": dict(layers=4, **BIG)}
COMPILE = {"bundled": dict(layers=2), "264MB": dict(layers=4, **BIG),
           "1GB": dict(layers=21, **BIG)}


def save(model, path):
    onnx.save_model(model, path, save_as_external_data=True,
                    all_tensors_to_one_file=True, location=path.name + ".bin",
                    size_threshold=1024)
    return sum(init.dims and np.prod(init.dims) * 4 or 0
               for init in model.graph.initializer)


def timed(run, repeat):
    for _ in range(2):
        outputs = run()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        outputs = run()
        times.append(time.perf_counter() - start)
    return statistics.median(times), outputs


def append_loop(session, feeds, repeat):
    """Median step of a greedy decode loop whose past grows in place (two
    warm-up steps first), and the first step's outputs."""
    feeds = dict(feeds)
    for name, value in list(feeds.items()):
        if name.startswith("past_"):
            batch, heads, past, head = value.shape
            buffer = np.empty((batch, heads, past + repeat + 3, head),
                              value.dtype)
            buffer[:, :, :past] = value
            feeds[name] = buffer[:, :, :past]
    names, times, first = session.output_names, [], None
    for step in range(repeat + 2):
        start = time.perf_counter()
        got = dict(zip(names, session.run(None, feeds)))
        if step >= 2:
            times.append(time.perf_counter() - start)
        if first is None:
            first = {"logits": got["logits"].copy()}
        tokens = np.argmax(got["logits"][:, -1], axis=-1)
        feeds["input_ids"] = tokens[:, None].astype(np.int64)
        feeds["position_ids"] = feeds["position_ids"] + 1
        for name in names:
            if name.startswith("present_"):
                feeds[name.replace("present_", "past_")] = got[name]
    return statistics.median(times), first


def step_rows(args, workdir):
    rows = []
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = args.threads
    context = hgc_jit.Context(target="host", threads=args.threads)
    for name, shape in MODELS.items():
        path = workdir / f"{name}.onnx"
        model = build_model.build(**shape)
        weight_bytes = save(model, path)
        reference = onnxruntime.InferenceSession(str(path), options)
        sessions = {"full": context.open_model(path, policy="full"),
                    "hgca": context.open_model(path, policy="hgca")}
        growing = {policy: context.open_model(path, policy=policy,
                                              append_in_place=True)
                   for policy in sessions}
        names = sessions["full"].output_names
        for past in (8192,) if args.quick else (8192, 32768):
            for batch in (1,) if args.quick else (1, 4):
                feeds = build_model.decode_inputs(model, past=past,
                                                  batch=batch)
                row = dict(model=name, weight_bytes=int(weight_bytes),
                           past=past, batch=batch)
                ms, want = timed(lambda: reference.run(None, feeds),
                                 args.repeat)
                row["onnxruntime_ms"] = ms * 1e3
                want = dict(zip(names, want))
                for policy, session in sessions.items():
                    ms, got = timed(lambda: session.run(None, feeds),
                                    args.repeat)
                    got = dict(zip(names, got))
                    row[f"hgc_{policy}_copy_ms"] = ms * 1e3
                    del got
                    ms, got = append_loop(growing[policy], feeds, args.repeat)
                    row[f"hgc_{policy}_ms"] = ms * 1e3
                    row[f"hgc_{policy}_max_abs_diff_logits"] = float(
                        np.abs(got["logits"] - want["logits"]).max())
                    del got
                del want, feeds
                base = build_model.decode_inputs(model, past=16, batch=batch)
                ms, _ = append_loop(growing["full"], base, args.repeat)
                row["hgc_full_base_ms"] = ms * 1e3
                for policy in sessions:
                    step = row[f"hgc_{policy}_ms"]
                    row[f"{policy}_attention_share"] = max(
                        0.0, (step - row["hgc_full_base_ms"]) / step)
                row["full_over_onnxruntime"] = (row["hgc_full_ms"] /
                                                row["onnxruntime_ms"])
                row["hgca_over_full"] = row["hgc_hgca_ms"] / row["hgc_full_ms"]
                print(json.dumps(row), file=sys.stderr)
                rows.append(row)
        del sessions, growing, reference
    return rows


def compile_rows(args, workdir):
    rows = []
    hgc = ROOT / "build" / "bin" / "hgc"
    for name, shape in COMPILE.items():
        if args.quick and name == "1GB":
            continue
        path = workdir / f"compile-{name}.onnx"
        weight_bytes = save(build_model.build(**shape), path)
        artifact = workdir / f"compile-{name}.hgcm"
        # /usr/bin/time forks hgc from itself: the peak RSS is hgc's alone
        # (a child forked from this process would count its pages).
        start = time.perf_counter()
        result = subprocess.run(["/usr/bin/time", "-f", "%M", hgc, "compile",
                                 path, "-o", artifact, "--dim", "batch=1",
                                 "--dim", "seq=1"],
                                capture_output=True, text=True)
        seconds = time.perf_counter() - start
        if result.returncode:
            sys.exit(f"hgc compile {path} failed: {result.stderr}")
        peak_kb = int(result.stderr.strip().splitlines()[-1])
        row = dict(model=name, weight_bytes=int(weight_bytes),
                   compile_s=seconds, peak_rss_mb=peak_kb / 1024,
                   artifact_bytes=sum(f.stat().st_size
                                      for f in artifact.iterdir()))
        print(json.dumps(row), file=sys.stderr)
        rows.append(row)
        shutil.rmtree(artifact)
        for leftover in workdir.glob(f"compile-{name}*"):
            leftover.unlink()
    return rows


ORT_CHILD = """
import sys, numpy as np, onnxruntime
feeds = {{n: np.load(f"{{sys.argv[1]}}/{{n}}.npy") for n in {names!r}}}
session = onnxruntime.InferenceSession({model!r})
session.run(None, feeds)
"""


def fresh_process_rows(args, workdir):
    """One decode step in a new process: `hgc run` with its compile cached
    against onnxruntime creating a session and running it."""
    rows = []
    hgc = ROOT / "build" / "bin" / "hgc"
    for name, shape in MODELS.items():
        path = workdir / f"fresh-{name}.onnx"
        model = build_model.build(**shape)
        save(model, path)
        feeds = build_model.decode_inputs(model, past=8192)
        inputs = workdir / f"fresh-{name}-inputs"
        inputs.mkdir()
        args_in = []
        for input_name, value in feeds.items():
            np.save(inputs / f"{input_name}.npy", value)
            args_in += ["--input", f"{input_name}={inputs / input_name}.npy"]
        cache = workdir / "fresh-cache"
        command = [hgc, "run", path, *args_in, "--output-dir",
                   workdir / "fresh-out", "--cache-dir", cache]
        subprocess.run(command, check=True, capture_output=True)  # compiles
        code = ORT_CHILD.format(names=list(feeds), model=str(path))
        runs = {"hgc_run_cached": command,
                "onnxruntime_python": [sys.executable, "-c", code, inputs]}
        row = dict(model=name, past=8192, batch=1)
        for label, command in runs.items():
            times = []
            for _ in range(args.repeat):
                start = time.perf_counter()
                subprocess.run(command, check=True, capture_output=True)
                times.append(time.perf_counter() - start)
            row[f"{label}_s"] = statistics.median(times)
        print(json.dumps(row), file=sys.stderr)
        rows.append(row)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--quick", action="store_true",
                        help="8K, batch 1, no 1 GB model")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hgc-model-bench-") as tmp:
        workdir = pathlib.Path(tmp)
        result = dict(machine=dict(cpu=platform.processor() or
                                   platform.machine(),
                                   cores=os.cpu_count(),
                                   threads=args.threads),
                      onnxruntime=onnxruntime.__version__,
                      compiles=compile_rows(args, workdir),
                      fresh_processes=fresh_process_rows(args, workdir),
                      steps=step_rows(args, workdir))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
