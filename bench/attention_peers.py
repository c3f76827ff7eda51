#!/usr/bin/env python3
"""Peers for `hgc-bench attention`: numpy, onnxruntime and IREE decode
attention.

Reads the dense shapes hgc-bench measures (JSON list: batch, context,
kv_dtype, q_heads, kv_heads, head_dim), times one decode step per shape and
system on all cores (median of --repeats after a warm-up), and writes rows
{system, batch, context, kv_dtype, time_ms} (time_ms null where the system
cannot run the shape: the peers get no bfloat16 inputs from numpy).

onnxruntime runs ONNX Attention (opset 23) with the query in the KV's type;
IREE (llvm-cpu, tuned for the host CPU, local-task on all cores) compiles
the same step written with linalg (Q.K^T batch matmul, softmax, P.V, f32
accumulation, the query in the KV's type); numpy computes in float32 from
KV in its stored type. Every peer's output is checked against numpy's
before it is timed: a wrong peer is worse than none.
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

try:
    import iree.compiler
    import iree.runtime
except ImportError:  # the peer is skipped, with a message
    iree = None

ONNX_TYPE = {"f32": TensorProto.FLOAT, "f16": TensorProto.FLOAT16}
TOLERANCE = {"f32": 1e-4, "f16": 2e-2}
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


def iree_step(shape, q, k, v):
    """The decode step compiled by IREE, as a function of no arguments (the
    inputs already in its device memory)."""
    b, t, hq, hkv, d = (shape["batch"], shape["context"], shape["q_heads"],
                        shape["kv_heads"], shape["head_dim"])
    rows, group, kv = b * hkv, hq // hkv, shape["kv_dtype"]

    def ty(*dims, element):
        return "tensor<" + "x".join(map(str, dims)) + f"x{element}>"
    qt, kt = ty(rows, group, d, element=kv), ty(rows, t, d, element=kv)
    st, ot = ty(rows, group, t, element="f32"), ty(rows, group, d, element="f32")
    source = f"""
func.func @attn(%q: {qt}, %k: {kt}, %v: {kt}) -> {ot} {{
  %zero = arith.constant 0.0 : f32
  %e0 = tensor.empty() : {st}
  %s0 = linalg.fill ins(%zero : f32) outs(%e0 : {st}) -> {st}
  %s = linalg.batch_matmul indexing_maps = [
      affine_map<(b, m, n, c) -> (b, m, c)>,
      affine_map<(b, m, n, c) -> (b, n, c)>,
      affine_map<(b, m, n, c) -> (b, m, n)>]
      ins(%q, %k : {qt}, {kt}) outs(%s0 : {st}) -> {st}
  %e1 = tensor.empty() : {st}
  %p = linalg.softmax dimension(2) ins(%s : {st}) outs(%e1 : {st}) -> {st}
  %e2 = tensor.empty() : {ot}
  %o0 = linalg.fill ins(%zero : f32) outs(%e2 : {ot}) -> {ot}
  %o = linalg.batch_matmul ins(%p, %v : {st}, {kt}) outs(%o0 : {ot}) -> {ot}
  return %o : {ot}
}}"""
    binary = iree.compiler.compile_str(
        source, target_backends=["llvm-cpu"],
        extra_args=["--iree-llvmcpu-target-cpu=host"])
    context = iree.runtime.SystemContext(
        config=iree.runtime.Config("local-task"))
    context.add_vm_module(
        iree.runtime.VmModule.copy_buffer(context.instance, binary))
    attn = context.modules.module["attn"]
    device = context.config.device
    # The scale folded into the query, as hgc and onnxruntime apply it.
    scaled = (q.astype(np.float32) / np.sqrt(d)).astype(q.dtype)
    args = [iree.runtime.asdevicearray(device, x) for x in (
        scaled.reshape(rows, group, d), k.reshape(rows, t, d),
        v.reshape(rows, t, d))]
    return lambda: attn(*args).to_host().reshape(b, hq, 1, d)


def checked_ms(name, run, want, tolerance, repeats):
    got = np.asarray(run(), dtype=np.float32).reshape(want.shape)
    error = float(np.abs(got - want).max())
    if not error <= tolerance:
        raise RuntimeError(f"{name} differs from numpy by {error:.3g}")
    return median_ms(run, repeats)


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
                     for s in ("numpy", "onnxruntime", "iree")]
            continue
        q, k, v = inputs(shape, rng)
        want = numpy_step(q, k, v).reshape(q.shape)
        rows.append(dict(base, system="numpy", time_ms=median_ms(
            lambda: numpy_step(q, k, v), args.repeats)))
        tolerance = TOLERANCE[shape["kv_dtype"]]
        times = {}
        for name in ("onnxruntime", "iree"):
            try:
                if name == "onnxruntime":
                    session = ort_session(shape, threads)
                    feeds = {"Q": q, "K": k, "V": v}
                    run = lambda: session.run(None, feeds)[0]  # noqa: E731
                elif iree is None:
                    raise RuntimeError("iree-base-compiler/runtime not installed")
                else:
                    run = iree_step(shape, q, k, v)
                times[name] = checked_ms(name, run, want, tolerance,
                                         args.repeats)
            except Exception as error:  # a shape/type the peer cannot run
                print(f"{name} cannot run {base}: {str(error)[:160]}")
                times[name] = None
            rows.append(dict(base, system=name, time_ms=times[name]))
        print(f"peers: {base} numpy {rows[-3]['time_ms']:.3f} ms, " +
              ", ".join(f"{n} {t if t is None else round(t, 3)} ms"
                        for n, t in times.items()), flush=True)
    with open(args.out, "w") as f:
        json.dump(rows, f)


if __name__ == "__main__":
    main()
