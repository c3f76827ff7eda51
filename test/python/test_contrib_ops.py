"""onnxruntime's contrib ops through hgc, against onnxruntime.

MultiHeadAttention (separate 3-D query/key/value, optional causal, additive
attention_bias, past/present KV), GroupQueryAttention (also packed QKV and
rotary inside, as onnxruntime-genai's builder writes it) and the
(Skip)SimplifiedLayerNormalization around them; fp32 within 1e-4.
Unsupported forms are errors naming the input.
"""
import pathlib
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime
import pytest
from onnx import TensorProto, helper, numpy_helper

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "jit" / "python"))
import hgc_jit  # noqa: E402

F = TensorProto.FLOAT


def mha_model(path, batch, seq, kv_seq, heads, head, past=0, causal=0,
              bias=False, present=False):
    names = ["query", "key", "value", "", "",
             "attention_bias" if bias else "",
             "past_key" if past else "", "past_value" if past else ""]
    while names and not names[-1]:
        names.pop()
    outputs = ["output"] + (["present_key", "present_value"] if present else [])
    node = helper.make_node("MultiHeadAttention", names, outputs,
                            domain="com.microsoft", num_heads=heads,
                            unidirectional=causal, name="mha")
    hidden = heads * head
    total = past + kv_seq
    inputs = [helper.make_tensor_value_info("query", F, [batch, seq, hidden]),
              helper.make_tensor_value_info("key", F, [batch, kv_seq, hidden]),
              helper.make_tensor_value_info("value", F, [batch, kv_seq, hidden])]
    if bias:
        inputs.append(helper.make_tensor_value_info(
            "attention_bias", F, [1, heads, seq, total]))
    if past:
        for name in ("past_key", "past_value"):
            inputs.append(helper.make_tensor_value_info(
                name, F, [batch, heads, past, head]))
    outs = [helper.make_tensor_value_info(o, F, None) for o in outputs]
    graph = helper.make_graph([node], "mha", inputs, outs)
    model = helper.make_model(graph, opset_imports=[
        helper.make_opsetid("", 23), helper.make_opsetid("com.microsoft", 1)])
    model.ir_version = 10
    onnx.save(model, path)
    return model


@pytest.mark.parametrize("past,causal,bias,seq", [
    (0, 0, False, 4), (0, 1, False, 5), (0, 0, True, 3), (7, 1, False, 1),
    (7, 1, True, 2), (30, 0, False, 1)])
def test_multi_head_attention(hgc, tmp_path, past, causal, bias, seq):
    batch, heads, head = 2, 3, 8
    kv_seq = seq
    model = mha_model(tmp_path / "m.onnx", batch, seq, kv_seq, heads, head,
                      past, causal, bias, present=past > 0)
    rng = np.random.default_rng(past * 10 + seq)
    feeds = {}
    for info in model.graph.input:
        shape = [d.dim_value for d in info.type.tensor_type.shape.dim]
        feeds[info.name] = rng.standard_normal(shape).astype(np.float32)
    args = []
    for name, value in feeds.items():
        np.save(tmp_path / f"{name}.npy", value)
        args += ["--input", f"{name}={tmp_path / name}.npy"]
    result = subprocess.run([hgc, "run", tmp_path / "m.onnx", *args,
                             "--output-dir", tmp_path / "out"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    session = onnxruntime.InferenceSession(str(tmp_path / "m.onnx"))
    names = [o.name for o in session.get_outputs()]
    for name, want in zip(names, session.run(None, feeds)):
        got = np.load(tmp_path / "out" / f"{name}.npy")
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4,
                                   err_msg=name)


def test_unsupported_forms_are_named(hgc, tmp_path):
    node = helper.make_node("MultiHeadAttention",
                            ["query", "key", "value", "", "mask"], ["output"],
                            domain="com.microsoft", num_heads=2, name="mha")
    inputs = [helper.make_tensor_value_info(n, F, [1, 2, 8])
              for n in ("query", "key", "value")]
    inputs.append(helper.make_tensor_value_info("mask", TensorProto.INT32,
                                                [1, 2]))
    graph = helper.make_graph([node], "g", inputs,
                              [helper.make_tensor_value_info("output", F, None)])
    model = helper.make_model(graph, opset_imports=[
        helper.make_opsetid("", 23), helper.make_opsetid("com.microsoft", 1)])
    model.ir_version = 10
    onnx.save(model, tmp_path / "m.onnx")
    result = subprocess.run([hgc, "plan", tmp_path / "m.onnx"],
                            capture_output=True, text=True)
    assert result.returncode == 1
    assert "node 'mha' (com.microsoft.MultiHeadAttention)" in result.stderr
    assert "key_padding_mask is not supported" in result.stderr


def gqa_model(path, batch, seq, past, heads, kv_heads, head, softcap=0.0,
              packed=False, rotary=None):
    """rotary: None, or (rotary dim, interleaved, ...): cos/sin caches of 64
    positions as initializers and do_rotary=1."""
    names = ["query"] + (["", ""] if packed else ["key", "value"]) + (
        ["past_key", "past_value"] if past else ["", ""]) + [
        "seqlens_k", "total_sequence_length"]
    attrs = dict(num_heads=heads, kv_num_heads=kv_heads)
    if softcap:
        attrs["softcap"] = softcap
    initializers = []
    if rotary:
        dim, interleaved = rotary[:2]
        names += ["cos_cache", "sin_cache"]
        attrs.update(do_rotary=1, rotary_interleaved=int(interleaved))
        angles = np.outer(np.arange(64),
                          1.0 / 10000 ** (np.arange(0, dim, 2) / dim))
        initializers = [
            numpy_helper.from_array(np.cos(angles).astype(np.float32),
                                    "cos_cache"),
            numpy_helper.from_array(np.sin(angles).astype(np.float32),
                                    "sin_cache")]
    node = helper.make_node("GroupQueryAttention", names,
                            ["output", "present_key", "present_value"],
                            domain="com.microsoft", name="gqa", **attrs)
    if packed:
        inputs = [helper.make_tensor_value_info(
            "query", F, [batch, seq, (heads + 2 * kv_heads) * head])]
    else:
        inputs = [
            helper.make_tensor_value_info("query", F,
                                          [batch, seq, heads * head]),
            helper.make_tensor_value_info("key", F,
                                          [batch, seq, kv_heads * head]),
            helper.make_tensor_value_info("value", F,
                                          [batch, seq, kv_heads * head])]
    if past:
        inputs += [helper.make_tensor_value_info(
            n, F, [batch, kv_heads, past, head])
            for n in ("past_key", "past_value")]
    inputs += [helper.make_tensor_value_info("seqlens_k", TensorProto.INT32,
                                             [batch]),
               helper.make_tensor_value_info("total_sequence_length",
                                             TensorProto.INT32, [])]
    outputs = [helper.make_tensor_value_info(n, F, None)
               for n in ("output", "present_key", "present_value")]
    graph = helper.make_graph([node], "gqa", inputs, outputs, initializers)
    model = helper.make_model(graph, opset_imports=[
        helper.make_opsetid("", 23), helper.make_opsetid("com.microsoft", 1)])
    model.ir_version = 10
    onnx.save(model, path)
    return model


@pytest.mark.parametrize("seq,past,lengths,softcap,packed,rotary", [
    (1, 16, [17, 17], 0.0, False, None),  # decode, full past buffers
    (1, 16, [17, 11], 0.0, False, None),  # sequences of different lengths
    (5, 0, [5, 5], 0.0, False, None),     # prompt
    (3, 8, [11], 0.0, False, None),       # chunk of 3 tokens after a past
                                          # (batch 1: onnxruntime's rule)
    (1, 16, [17, 9], 30.0, False, None),  # softcap
    # onnxruntime-genai's form: packed QKV, rotary inside (half-split and
    # interleaved, whole and partial head), decode, prompt and a chunk.
    # (onnxruntime's rotary takes head sizes that are multiples of 16.)
    # rotary: (rotary dim, interleaved, head size).
    (1, 16, [17, 11], 0.0, True, (16, False, 16)),
    (1, 16, [17, 9], 0.0, True, (16, True, 16)),
    (1, 16, [13, 17], 0.0, False, (16, False, 32)),
    (5, 0, [5, 5], 0.0, True, (16, False, 16)),
    (3, 8, [11], 0.0, True, (16, False, 16)),
])
def test_group_query_attention(hgc, tmp_path, seq, past, lengths, softcap,
                               packed, rotary):
    batch, heads, kv_heads = len(lengths), 4, 2
    head = rotary[2] if rotary else 8
    model = gqa_model(tmp_path / "g.onnx", batch, seq, past, heads, kv_heads,
                      head, softcap, packed, rotary)
    rng = np.random.default_rng(seq * 100 + past + len(lengths))
    if packed:
        feeds = {"query": rng.standard_normal(
            (batch, seq, (heads + 2 * kv_heads) * head))}
    else:
        feeds = {
            "query": rng.standard_normal((batch, seq, heads * head)),
            "key": rng.standard_normal((batch, seq, kv_heads * head)),
            "value": rng.standard_normal((batch, seq, kv_heads * head)),
        }
    if past:
        for name in ("past_key", "past_value"):
            feeds[name] = rng.standard_normal((batch, kv_heads, past, head))
    feeds = {k: v.astype(np.float32) for k, v in feeds.items()}
    feeds["seqlens_k"] = np.array(lengths, np.int32) - 1
    feeds["total_sequence_length"] = np.array(max(lengths), np.int32)
    args = []
    for name, value in feeds.items():
        np.save(tmp_path / f"{name}.npy", value)
        args += ["--input", f"{name}={tmp_path / name}.npy"]
    session = onnxruntime.InferenceSession(str(tmp_path / "g.onnx"))
    want = dict(zip(["output", "present_key", "present_value"],
                    session.run(None, feeds)))
    # Exact, and split per a keep-all hybrid placement (the per-sequence
    # lengths then drive the device/host split).
    for placement in ([], ["--policy", "hgca", "--window", "4",
                           "--budget", "1.0"]):
        out = tmp_path / f"out{len(placement)}"
        result = subprocess.run([hgc, "run", tmp_path / "g.onnx", *args,
                                 "--output-dir", out, *placement],
                                capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        got = {n: np.load(out / f"{n}.npy") for n in want}
        for name in want:
            assert got[name].shape == want[name].shape, name
        # Compare what is defined: each sequence's tokens (onnxruntime
        # leaves the rest of a present buffer unspecified).
        for b, length in enumerate(lengths):
            np.testing.assert_allclose(got["output"][b], want["output"][b],
                                       rtol=1e-4, atol=1e-4)
            for name in ("present_key", "present_value"):
                np.testing.assert_allclose(got[name][b, :, :length],
                                           want[name][b, :, :length],
                                           rtol=1e-4, atol=1e-4, err_msg=name)


def test_group_query_attention_errors(hgc, tmp_path):
    """A total_sequence_length not given leaves the present length to run
    time; given, the plan counts tokens. Bad forms are errors naming the
    node."""
    gqa_model(tmp_path / "g.onnx", 1, 1, 16, 4, 2, 8)
    result = subprocess.run([hgc, "plan", tmp_path / "g.onnx"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "tokens per sequence known at run time" in result.stdout
    result = subprocess.run([hgc, "plan", tmp_path / "g.onnx", "--value",
                             "total_sequence_length=17"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "attention 'gqa': decode step" in result.stdout
    assert "17 tokens per sequence" in result.stdout
    model = gqa_model(tmp_path / "g2.onnx", 2, 1, 16, 4, 2, 8)
    model.graph.node[0].input[6] = "seqlens_k"  # two values
    onnx.save(model, tmp_path / "two.onnx")
    result = subprocess.run([hgc, "plan", tmp_path / "two.onnx"],
                            capture_output=True, text=True)
    assert result.returncode == 1
    assert "node 'gqa' (com.microsoft.GroupQueryAttention)" in result.stderr
    assert "total_sequence_length must be one integer" in result.stderr

    def plan_fails_with(model, name, message):
        onnx.save(model, tmp_path / name)
        result = subprocess.run([hgc, "plan", tmp_path / name, "--value",
                                 "total_sequence_length=17"],
                                capture_output=True, text=True)
        assert result.returncode == 1
        assert message in result.stderr

    model = onnx.load(tmp_path / "g.onnx")
    model.graph.node[0].attribute.append(helper.make_attribute("do_rotary", 1))
    plan_fails_with(model, "rotary.onnx",
                    "do_rotary needs cos_cache and sin_cache")
    # Packed QKV whose width is no multiple of the head counts.
    model = gqa_model(tmp_path / "packed.onnx", 1, 1, 16, 4, 2, 8, packed=True)
    model.graph.input[0].type.tensor_type.shape.dim[2].dim_value = 70
    plan_fails_with(model, "packed.onnx", "packed QKV width 70")


@pytest.mark.parametrize("bias", [False, True])
def test_skip_simplified_layer_normalization(tmp_path, bias):
    """onnxruntime-genai's residual + RMSNorm: the normalized output and the
    sum (output 3) for the next residual, then the plain op on the sum."""
    hidden = 48
    inputs = ["x", "skip", "gamma"] + (["bias"] if bias else [])
    nodes = [
        helper.make_node("SkipSimplifiedLayerNormalization", inputs,
                         ["y", "", "", "sum"], domain="com.microsoft",
                         epsilon=1e-6),
        helper.make_node("SimplifiedLayerNormalization", ["sum", "gamma"],
                         ["z"], epsilon=1e-5, axis=-1)]
    rng = np.random.default_rng(5)
    initializers = [numpy_helper.from_array(
        rng.standard_normal(hidden).astype(np.float32), "gamma")]
    if bias:
        initializers.append(numpy_helper.from_array(
            rng.standard_normal(hidden).astype(np.float32), "bias"))
    graph = helper.make_graph(nodes, "skip", [
        helper.make_tensor_value_info(n, F, [2, 3, hidden])
        for n in ("x", "skip")], [
        helper.make_tensor_value_info(n, F, None) for n in ("y", "sum", "z")],
        initializers)
    model = helper.make_model(graph, opset_imports=[
        helper.make_opsetid("", 21), helper.make_opsetid("com.microsoft", 1)])
    model.ir_version = 10
    onnx.save(model, tmp_path / "skip.onnx")
    feeds = {n: rng.standard_normal((2, 3, hidden)).astype(np.float32)
             for n in ("x", "skip")}
    want = onnxruntime.InferenceSession(str(tmp_path / "skip.onnx")).run(
        None, feeds)
    got = hgc_jit.Session(tmp_path / "skip.onnx", cache_dir="").run(None,
                                                                    feeds)
    for name, a, b in zip(["y", "sum", "z"], got, want):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5, err_msg=name)
