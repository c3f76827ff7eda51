#!/usr/bin/env python3
"""Builds a small Llama-style decoder as ONNX (opset 23) and checks it.

Token embedding (Gather), N layers of RMSNorm -> GQA attention with RoPE and
past KV (ONNX Attention, 4-D) -> residual -> RMSNorm -> SwiGLU MLP ->
residual, then a final RMSNorm and the LM head. Random weights from a fixed
seed; batch, sequence and past length are symbolic, so one model serves
prefill and decode steps over any past. Running it once with onnxruntime
checks that the graph is valid.

    build_model.py OUT.onnx [--layers 2 --hidden 256 --heads 8 --kv-heads 2]
"""
import argparse

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def build(layers=2, hidden=256, heads=8, kv_heads=2, ffn=512, vocab=512,
          max_positions=65536, seed=0):
    rng = np.random.default_rng(seed)
    head = hidden // heads
    nodes, inits = [], []

    def weight(name, shape, scale=None):
        scale = scale if scale is not None else 1.0 / np.sqrt(shape[0])
        inits.append(numpy_helper.from_array(
            (rng.standard_normal(shape) * scale).astype(np.float32), name))
        return name

    def const(name, values, dtype=np.int64):
        inits.append(numpy_helper.from_array(np.array(values, dtype), name))
        return name

    def node(op, inputs, outputs, **attrs):
        nodes.append(helper.make_node(op, inputs, outputs,
                                      name=outputs[0] + "_" + op, **attrs))
        return outputs[0]

    # RoPE caches (theta = 10000), [positions, head/2].
    inverse = 1.0 / (10000 ** (np.arange(0, head, 2) / head))
    angles = np.outer(np.arange(max_positions), inverse)
    inits.append(numpy_helper.from_array(np.cos(angles).astype(np.float32),
                                         "rope_cos"))
    inits.append(numpy_helper.from_array(np.sin(angles).astype(np.float32),
                                         "rope_sin"))
    const("to_bshd_q", [0, 0, heads, head])
    const("to_bshd_kv", [0, 0, kv_heads, head])
    const("to_bsh", [0, 0, hidden])

    x = node("Gather", [weight("embed", [vocab, hidden], 1.0), "input_ids"],
             ["x0"])
    inputs = [
        helper.make_tensor_value_info("input_ids", TensorProto.INT64,
                                      ["batch", "seq"]),
        helper.make_tensor_value_info("position_ids", TensorProto.INT64,
                                      ["batch", "seq"]),
    ]
    outputs = []
    for i in range(layers):
        p = f"l{i}_"
        for kind in ("key", "value"):
            inputs.append(helper.make_tensor_value_info(
                f"past_{kind}_{i}", TensorProto.FLOAT,
                ["batch", kv_heads, "past", head]))
        h = node("RMSNormalization",
                 [x, const(p + "ln1", np.ones(hidden), np.float32)],
                 [p + "h"], epsilon=1e-5)
        q = node("MatMul", [h, weight(p + "wq", [hidden, hidden])], [p + "q"])
        k = node("MatMul", [h, weight(p + "wk", [hidden, kv_heads * head])],
                 [p + "k"])
        v = node("MatMul", [h, weight(p + "wv", [hidden, kv_heads * head])],
                 [p + "v"])
        q = node("RotaryEmbedding", [q, "rope_cos", "rope_sin",
                                     "position_ids"], [p + "q_rot"],
                 num_heads=heads)
        k = node("RotaryEmbedding", [k, "rope_cos", "rope_sin",
                                     "position_ids"], [p + "k_rot"],
                 num_heads=kv_heads)
        q4 = node("Transpose", [node("Reshape", [q, "to_bshd_q"],
                                     [p + "q_bshd"])], [p + "q4"],
                  perm=[0, 2, 1, 3])
        k4 = node("Transpose", [node("Reshape", [k, "to_bshd_kv"],
                                     [p + "k_bshd"])], [p + "k4"],
                  perm=[0, 2, 1, 3])
        v4 = node("Transpose", [node("Reshape", [v, "to_bshd_kv"],
                                     [p + "v_bshd"])], [p + "v4"],
                  perm=[0, 2, 1, 3])
        node("Attention", [q4, k4, v4, "", f"past_key_{i}",
                           f"past_value_{i}"],
             [p + "attn", f"present_key_{i}", f"present_value_{i}"],
             is_causal=1)
        o = node("Reshape", [node("Transpose", [p + "attn"], [p + "attn_t"],
                                  perm=[0, 2, 1, 3]), "to_bsh"], [p + "o"])
        x = node("Add", [x, node("MatMul", [o, weight(p + "wo",
                                                      [hidden, hidden])],
                                 [p + "proj"])], [p + "x_attn"])
        h2 = node("RMSNormalization",
                  [x, const(p + "ln2", np.ones(hidden), np.float32)],
                  [p + "h2"], epsilon=1e-5)
        gate = node("MatMul", [h2, weight(p + "wg", [hidden, ffn])],
                    [p + "gate"])
        up = node("MatMul", [h2, weight(p + "wu", [hidden, ffn])], [p + "up"])
        silu = node("Mul", [gate, node("Sigmoid", [gate], [p + "sig"])],
                    [p + "silu"])
        act = node("Mul", [silu, up], [p + "act"])
        x = node("Add", [x, node("MatMul", [act, weight(p + "wd",
                                                        [ffn, hidden])],
                                 [p + "down"])], [p + "x_out"])
        for kind in ("key", "value"):
            outputs.append(helper.make_tensor_value_info(
                f"present_{kind}_{i}", TensorProto.FLOAT,
                ["batch", kv_heads, "total", head]))
    h = node("RMSNormalization", [x, const("ln_f", np.ones(hidden),
                                           np.float32)], ["h_final"],
             epsilon=1e-5)
    node("MatMul", [h, weight("lm_head", [hidden, vocab])], ["logits"])
    outputs.insert(0, helper.make_tensor_value_info(
        "logits", TensorProto.FLOAT, ["batch", "seq", vocab]))
    graph = helper.make_graph(nodes, "llama_decoder", inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 23)],
                              producer_name="hgc examples/llama")
    model.ir_version = 10
    onnx.checker.check_model(model)
    return model


def decode_inputs(model, past, batch=1, seed=1):
    """Inputs of one decode step after `past` tokens: random past KV."""
    rng = np.random.default_rng(seed)
    feeds = {
        "input_ids": rng.integers(0, 512, (batch, 1)).astype(np.int64),
        "position_ids": np.full((batch, 1), past, np.int64),
    }
    for info in model.graph.input:
        if info.name.startswith("past_"):
            dims = info.type.tensor_type.shape.dim
            shape = (batch, dims[1].dim_value, past, dims[3].dim_value)
            feeds[info.name] = rng.standard_normal(shape).astype(np.float32)
    return feeds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output")
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--kv-heads", type=int, default=2)
    args = parser.parse_args()
    model = build(args.layers, args.hidden, args.heads, args.kv_heads)
    onnx.save(model, args.output)
    import onnxruntime
    session = onnxruntime.InferenceSession(args.output)
    logits = session.run(["logits"], decode_inputs(model, past=16))[0]
    assert np.isfinite(logits).all()
    print(f"{args.output}: {args.layers} layers, hidden {args.hidden}, "
          f"{args.heads} query / {args.kv_heads} KV heads; onnxruntime runs it")


if __name__ == "__main__":
    main()
