"""com.microsoft MultiHeadAttention through `hgc run`, against onnxruntime.

Separate 3-D query/key/value, optional causal (unidirectional), additive
attention_bias and past/present KV; fp32 within 1e-4. Unsupported forms are
errors naming the input.
"""
import subprocess

import numpy as np
import onnx
import onnxruntime
import pytest
from onnx import TensorProto, helper

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
