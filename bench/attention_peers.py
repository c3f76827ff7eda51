#!/usr/bin/env python3
"""Peers for `hgc-bench attention`: numpy and onnxruntime decode attention.

Reads the dense shapes hgc-bench measures (JSON list: batch, context,
kv_dtype, q_heads, kv_heads, head_dim), times one decode step per shape and
system on all cores (median of --repeats after a warm-up), and writes rows
{system, batch, context, kv_dtype, time_ms} (time_ms null where the system
cannot run the shape: numpy and onnxruntime have no bfloat16).

onnxruntime runs ONNX Attention (opset 23) with the query in the KV's type;
numpy computes in float32 from KV in its stored type.
"""
import argparse
import json
import os
import statistics
import time

import numpy as np
import onnx
import onnxruntime
from onnx import TensorProto, helper

ONNX_TYPE = {"f32": TensorProto.FLOAT, "f16": TensorProto.FLOAT16}
NUMPY_TYPE = {"f32": np.float32, "f16": np.float16}


def median_ms(run, repeats):
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def inputs(shape, rng):
    b, t, hq, hkv, d = (shape["batch"], shape["context"], shape["q_heads"],
                        shape["kv_heads"], shape["head_dim"])
    dtype = NUMPY_TYPE[shape["kv_dtype"]]
    q = rng.standard_normal((b, hq, 1, d)).astype(dtype)
    k = rng.standard_normal((b, hkv, t, d)).astype(dtype)
    v = rng.standard_normal((b, hkv, t, d)).astype(dtype)
    return q, k, v


def numpy_step(q, k, v):
    b, hq, _, d = q.shape
    hkv = k.shape[1]
    qg = q.astype(np.float32).reshape(b, hkv, hq // hkv, d)
    scores = np.einsum("bhgd,bhtd->bhgt", qg, k, dtype=np.float32)
    scores *= 1.0 / np.sqrt(d)
    scores -= scores.max(axis=-1, keepdims=True)
    np.exp(scores, out=scores)
    scores /= scores.sum(axis=-1, keepdims=True)
    return np.einsum("bhgt,bhtd->bhgd", scores, v, dtype=np.float32)


def ort_session(shape, threads):
    b, t, hq, hkv, d = (shape["batch"], shape["context"], shape["q_heads"],
                        shape["kv_heads"], shape["head_dim"])
    kind = ONNX_TYPE[shape["kv_dtype"]]
    graph = helper.make_graph(
        [helper.make_node("Attention", ["Q", "K", "V"], ["Y"])], "decode",
        [helper.make_tensor_value_info("Q", kind, [b, hq, 1, d]),
         helper.make_tensor_value_info("K", kind, [b, hkv, t, d]),
         helper.make_tensor_value_info("V", kind, [b, hkv, t, d])],
        [helper.make_tensor_value_info("Y", kind, [b, hq, 1, d])])
    model = helper.make_model(graph,
                              opset_imports=[helper.make_opsetid("", 23)])
    model.ir_version = 10
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    return onnxruntime.InferenceSession(model.SerializeToString(), options)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    with open(args.shapes) as f:
        shapes = json.load(f)
    threads = os.cpu_count()
    rng = np.random.default_rng(0)
    rows = []
    for shape in shapes:
        base = {k: shape[k] for k in ("batch", "context", "kv_dtype")}
        if shape["kv_dtype"] not in NUMPY_TYPE:
            rows += [dict(base, system=s, time_ms=None)
                     for s in ("numpy", "onnxruntime")]
            continue
        q, k, v = inputs(shape, rng)
        rows.append(dict(base, system="numpy", time_ms=median_ms(
            lambda: numpy_step(q, k, v), args.repeats)))
        try:
            session = ort_session(shape, threads)
            feeds = {"Q": q, "K": k, "V": v}
            ms = median_ms(lambda: session.run(None, feeds), args.repeats)
        except Exception as error:  # a shape/type ORT does not implement
            print(f"onnxruntime cannot run {base}: {str(error)[:120]}")
            ms = None
        rows.append(dict(base, system="onnxruntime", time_ms=ms))
        print(f"peers: {base} numpy {rows[-2]['time_ms']:.3f} ms, "
              f"onnxruntime {ms if ms is None else round(ms, 3)} ms",
              flush=True)
    with open(args.out, "w") as f:
        json.dump(rows, f)


if __name__ == "__main__":
    main()
