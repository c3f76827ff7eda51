#!/usr/bin/env python3
"""Peers for `hgc-bench attention`: numpy, onnxruntime (ONNX Attention and
com.microsoft GroupQueryAttention), PyTorch's scaled_dot_product_attention
and IREE decode attention.

Reads the dense shapes hgc-bench measures (JSON list: batch, context,
kv_dtype, q_heads, kv_heads, head_dim), times one decode step per shape and
system on all cores (median of --repeats after a warm-up), and writes rows
{system, batch, context, kv_dtype, time_ms} (time_ms null where the system
cannot run the shape: the peers get no bfloat16 inputs from numpy).

onnxruntime runs ONNX Attention (opset 23) with the query in the KV's type,
and `com.microsoft.GroupQueryAttention`, the op its LLM path
(onnxruntime-genai) runs: the past in a buffer of the whole context shared
with the present (bound as both, as genai's past_present_share_buffer), the
step's key and value appended by the op; PyTorch runs
`torch.nn.functional.scaled_dot_product_attention` on CPU tensors in the
KV's type with `enable_gqa=True` (the kernel it picked is named in the
row's `note`) where torch is installed; where it is not, its rows say why;
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
TOLERANCE = {"f32": 1e-4, "f16": 2e-2, "bf16": 2e-2}
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


def bf16_inputs(shape, rng):
    """bf16 inputs as raw bits (uint16, truncated from float32), and the
    float32 values they hold (for numpy's reference)."""
    bits, values = [], []
    for x in inputs(dict(shape, kv_dtype="f32"), rng):
        raw = (x.view(np.uint32) >> 16).astype(np.uint16)
        bits.append(raw)
        values.append((raw.astype(np.uint32) << 16).view(np.float32))
    return bits, values


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


def ort_gqa_step(shape, q, k, v, threads):
    """GroupQueryAttention over the context: past = all but the last token,
    in a [batch, kv_heads, context, head_dim] buffer the op appends the
    step's key and value to, bound as present too (no copy)."""
    b, t, hq, hkv, d = (shape["batch"], shape["context"], shape["q_heads"],
                        shape["kv_heads"], shape["head_dim"])
    kind = ONNX_TYPE[shape["kv_dtype"]]
    node = helper.make_node(
        "GroupQueryAttention",
        ["query", "key", "value", "past_key", "past_value", "seqlens_k",
         "total_sequence_length"],
        ["output", "present_key", "present_value"], domain="com.microsoft",
        num_heads=hq, kv_num_heads=hkv)
    cache = [b, hkv, t, d]
    graph = helper.make_graph(
        [node], "decode",
        [helper.make_tensor_value_info("query", kind, [b, 1, hq * d]),
         helper.make_tensor_value_info("key", kind, [b, 1, hkv * d]),
         helper.make_tensor_value_info("value", kind, [b, 1, hkv * d]),
         helper.make_tensor_value_info("past_key", kind, cache),
         helper.make_tensor_value_info("past_value", kind, cache),
         helper.make_tensor_value_info("seqlens_k", TensorProto.INT32, [b]),
         helper.make_tensor_value_info("total_sequence_length",
                                       TensorProto.INT32, [])],
        [helper.make_tensor_value_info("output", kind, [b, 1, hq * d]),
         helper.make_tensor_value_info("present_key", kind, cache),
         helper.make_tensor_value_info("present_value", kind, cache)])
    model = helper.make_model(graph, opset_imports=[
        helper.make_opsetid("", 21), helper.make_opsetid("com.microsoft", 1)])
    model.ir_version = 10
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    session = onnxruntime.InferenceSession(model.SerializeToString(), options)
    past_k = np.ascontiguousarray(k)
    past_v = np.ascontiguousarray(v)
    values = {
        "query": np.ascontiguousarray(q.transpose(0, 2, 1, 3)).reshape(
            b, 1, hq * d),
        "key": np.ascontiguousarray(k[:, :, t - 1]).reshape(b, 1, hkv * d),
        "value": np.ascontiguousarray(v[:, :, t - 1]).reshape(b, 1, hkv * d),
        "seqlens_k": np.full(b, t - 1, np.int32),
        "total_sequence_length": np.array(t, np.int32)}
    binding = session.io_binding()
    for name, array in values.items():
        binding.bind_cpu_input(name, array)
    binding.bind_output("output")  # outputs come back in bound order
    shared = {}
    for name, array in (("key", past_k), ("value", past_v)):
        shared[name] = onnxruntime.OrtValue.ortvalue_from_numpy(array)
        binding.bind_ortvalue_input(f"past_{name}", shared[name])
        binding.bind_ortvalue_output(f"present_{name}", shared[name])

    def run():
        session.run_with_iobinding(binding)
        out = binding.get_outputs()[0].numpy()
        return out.reshape(b, 1, hq, d).transpose(0, 2, 1, 3)
    return run


def torch_sdpa_step(shape, q, k, v, threads):
    """scaled_dot_product_attention on CPU tensors (no copy of the numpy
    inputs), GQA through enable_gqa; also the name of the kernel it ran."""
    import torch  # only where installed
    import torch.nn.functional as F
    torch.set_num_threads(threads)
    if shape["kv_dtype"] == "bf16":  # raw bits in, bf16 tensors (no copy)
        tq, tk, tv = (torch.from_numpy(x.view(np.int16)).view(torch.bfloat16)
                      for x in (q, k, v))
    else:
        tq, tk, tv = (torch.from_numpy(x) for x in (q, k, v))
    kernel = "unknown"
    try:
        from torch.profiler import ProfilerActivity, profile
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            F.scaled_dot_product_attention(tq, tk, tv, enable_gqa=True)
        names = [e.key for e in prof.key_averages()]
        kernel = next((n for n in names if "flash" in n or "math" in n
                       or "efficient" in n), ",".join(names[:3]))
    except Exception as error:  # the profiler is only for the label
        kernel = f"unknown ({str(error)[:40]})"

    def run():
        with torch.inference_mode():
            return F.scaled_dot_product_attention(
                tq, tk, tv, enable_gqa=True).float().numpy()
    return run, kernel


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
    peers = ("onnxruntime", "onnxruntime-gqa", "torch-sdpa", "iree")
    for shape in shapes:
        base = {k: shape[k] for k in ("batch", "context", "kv_dtype")}
        if shape["kv_dtype"] == "bf16":
            # Only torch takes bf16 arrays; the others get none from numpy.
            rows += [dict(base, system=s, time_ms=None,
                          note="no bfloat16 inputs from numpy")
                     for s in ("numpy",) + peers if s != "torch-sdpa"]
            bits, values = bf16_inputs(shape, rng)
            want = numpy_step(*values).reshape(values[0].shape)
            try:
                run, note = torch_sdpa_step(shape, *bits, threads)
                row = dict(base, system="torch-sdpa", note=note,
                           time_ms=checked_ms("torch-sdpa", run, want,
                                              TOLERANCE["bf16"],
                                              args.repeats))
            except Exception as error:
                row = dict(base, system="torch-sdpa", time_ms=None,
                           note=f"{type(error).__name__}: {str(error)[:160]}")
            rows.append(row)
            print(f"peers: {base} torch-sdpa {row['time_ms']} ms", flush=True)
            continue
        q, k, v = inputs(shape, rng)
        want = numpy_step(q, k, v).reshape(q.shape)
        numpy_ms = median_ms(lambda: numpy_step(q, k, v), args.repeats)
        rows.append(dict(base, system="numpy", time_ms=numpy_ms))
        tolerance = TOLERANCE[shape["kv_dtype"]]
        times = {}
        for name in peers:
            note = None
            try:
                if name == "onnxruntime":
                    session = ort_session(shape, threads)
                    feeds = {"Q": q, "K": k, "V": v}
                    run = lambda: session.run(None, feeds)[0]  # noqa: E731
                elif name == "onnxruntime-gqa":
                    run = ort_gqa_step(shape, q, k, v, threads)
                elif name == "torch-sdpa":
                    run, note = torch_sdpa_step(shape, q, k, v, threads)
                elif iree is None:
                    raise RuntimeError("iree-base-compiler/runtime not installed")
                else:
                    run = iree_step(shape, q, k, v)
                times[name] = checked_ms(name, run, want, tolerance,
                                         args.repeats)
            except Exception as error:  # a shape/type the peer cannot run
                note = f"{type(error).__name__}: {str(error)[:160]}"
                print(f"{name} cannot run {base}: {note}")
                times[name] = None
            row = dict(base, system=name, time_ms=times[name])
            if note:
                row["note"] = note
            rows.append(row)
        print(f"peers: {base} numpy {numpy_ms:.3f} ms, " +
              ", ".join(f"{n} {t if t is None else round(t, 3)} ms"
                        for n, t in times.items()), flush=True)
    with open(args.out, "w") as f:
        json.dump(rows, f)


if __name__ == "__main__":
    main()
