#!/usr/bin/env python3
"""Writes the fuzzer's extra seeds: small models of the ops exporters write
that the ONNX backend cases do not cover (GroupQueryAttention with packed
QKV and rotary, Split, GatherND, IsNaN/IsInf, integer ReduceSum, Shape of a
named dim, (Skip)SimplifiedLayerNormalization). scripts/fuzz.sh copies
them next to the backend models.

    make_seeds.py [OUT_DIR]   (default: this folder)
"""
import pathlib
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "python"))
import test_contrib_ops  # noqa: E402


def save(out, name, nodes, inputs, outputs, initializers=(), opset=18,
         microsoft=False):
    graph = helper.make_graph(nodes, name, inputs, outputs, list(initializers))
    opsets = [helper.make_opsetid("", opset)]
    if microsoft:
        opsets.append(helper.make_opsetid("com.microsoft", 1))
    model = helper.make_model(graph, opset_imports=opsets)
    model.ir_version = 9
    onnx.save(model, out / f"{name}.onnx")


def main():
    out = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else HERE
    test_contrib_ops.gqa_model(out / "gqa_packed_rotary.onnx", 2, 1, 16, 4, 2,
                               16, packed=True, rotary=(16, False, 16))
    test_contrib_ops.gqa_model(out / "gqa_rotary_interleaved.onnx", 2, 3, 8,
                               4, 2, 16, rotary=(8, True, 16))
    f, i64 = TensorProto.FLOAT, TensorProto.INT64
    info = helper.make_tensor_value_info
    save(out, "split_gathernd_isnan", [
        helper.make_node("Split", ["x"], ["a", "b"], axis=1, num_outputs=2),
        helper.make_node("GatherND", ["a", "idx"], ["g"], batch_dims=0),
        helper.make_node("IsNaN", ["b"], ["n"]),
        helper.make_node("IsInf", ["b"], ["i"], detect_negative=0),
        helper.make_node("ReduceSum", ["mask", "axis"], ["count"],
                         keepdims=0),
        helper.make_node("Shape", ["mask"], ["shape"], start=1)],
        [info("x", f, [3, 8]), info("idx", i64, [2, 2]),
         info("mask", i64, [3, "total"])],
        [info(n, TensorProto.UNDEFINED, None)
         for n in ("g", "n", "i", "count", "shape")],
        [numpy_helper.from_array(np.array([1], np.int64), "axis")])
    save(out, "skip_simplified_layernorm", [
        helper.make_node("SkipSimplifiedLayerNormalization", ["x", "s", "w"],
                         ["y", "", "", "sum"], domain="com.microsoft"),
        helper.make_node("SimplifiedLayerNormalization", ["sum", "w"], ["z"])],
        [info("x", f, [2, 3, 8]), info("s", f, [2, 3, 8])],
        [info(n, f, None) for n in ("y", "sum", "z")],
        [numpy_helper.from_array(np.ones(8, np.float32), "w")], opset=21,
        microsoft=True)


if __name__ == "__main__":
    main()
