"""Ops torch's exporters write around attention (GatherND for mask lookups,
IsNaN/IsInf for softmax's NaN guard, Split of fused projections, empty
slices of fully rotated heads, LayerNormalization), run by hgc and folded
at import time, against ONNX's reference evaluator or float64 numpy."""
import pathlib
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "jit" / "python"))
import hgc_jit  # noqa: E402


def save_model(path, nodes, inputs, initializers=()):
    graph = helper.make_graph(
        nodes, "ops", inputs,
        [helper.make_tensor_value_info("y", TensorProto.UNDEFINED, None)],
        list(initializers))
    model = helper.make_model(graph,
                              opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.save(model, path)
    return model


def check(path, model, feeds):
    want = ReferenceEvaluator(model).run(None, feeds)[0]
    (got,) = hgc_jit.Session(path, cache_dir="").run(None, feeds)
    assert got.shape == want.shape and got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


# (data shape, indices shape, batch_dims): whole rows, single elements, a
# batched lookup, indices with several leading dims.
GATHER_ND = [((5, 4, 3), (2, 1), 0), ((5, 4, 3), (6, 3), 0),
             ((3, 4, 5), (3, 2, 1), 1), ((2, 7, 4), (2, 3, 2, 2), 1),
             ((4, 6), (2, 2, 2), 0)]


@pytest.mark.parametrize("data_shape,index_shape,batch_dims", GATHER_ND)
@pytest.mark.parametrize("folded", [False, True])
def test_gather_nd(tmp_path, data_shape, index_shape, batch_dims, folded):
    """Indices drawn in range, negatives included; run-time data, or both
    operands initializers (folded at import)."""
    rng = np.random.default_rng(len(GATHER_ND) * batch_dims + len(index_shape))
    data = rng.standard_normal(data_shape).astype(np.float32)
    depth = index_shape[-1]
    dims = np.array(data_shape[batch_dims:batch_dims + depth])
    indices = rng.integers(-dims, dims, index_shape).astype(np.int64)
    node = helper.make_node("GatherND", ["data", "indices"], ["y"],
                            batch_dims=batch_dims)
    path = tmp_path / "gathernd.onnx"
    if folded:
        model = save_model(path, [node], [],
                           [numpy_helper.from_array(data, "data"),
                            numpy_helper.from_array(indices, "indices")])
        check(path, model, {})
        return
    model = save_model(path, [node], [
        helper.make_tensor_value_info("data", TensorProto.FLOAT, data_shape),
        helper.make_tensor_value_info("indices", TensorProto.INT64,
                                      index_shape)])
    check(path, model, {"data": data, "indices": indices})


@pytest.mark.parametrize("op,attrs", [
    ("IsNaN", {}), ("IsInf", {}), ("IsInf", {"detect_negative": 0}),
    ("IsInf", {"detect_positive": 0})])
@pytest.mark.parametrize("folded", [False, True])
def test_nan_and_inf_tests(tmp_path, op, attrs, folded):
    x = np.array([[1.5, np.nan, np.inf, -np.inf], [0.0, -2.0, np.nan, 3e38]],
                 np.float32)
    node = helper.make_node(op, ["x"], ["y"], **attrs)
    path = tmp_path / "classify.onnx"
    if folded:
        model = save_model(path, [node], [],
                           [numpy_helper.from_array(x, "x")])
        check(path, model, {})
        return
    model = save_model(path, [node], [
        helper.make_tensor_value_info("x", TensorProto.FLOAT, x.shape)])
    check(path, model, {"x": x})


def test_gather_nd_errors(tmp_path):
    """A batch_dims the ranks cannot take is a one-line error naming the
    node."""
    node = helper.make_node("GatherND", ["data", "indices"], ["y"],
                            batch_dims=2, name="lookup")
    path = tmp_path / "bad.onnx"
    save_model(path, [node], [
        helper.make_tensor_value_info("data", TensorProto.FLOAT, [3, 4]),
        helper.make_tensor_value_info("indices", TensorProto.INT64, [3, 1])])
    with pytest.raises(hgc_jit.Error, match="lookup.*batch_dims"):
        hgc_jit.Session(path, cache_dir="").run(None, {
            "data": np.ones((3, 4), np.float32),
            "indices": np.zeros((3, 1), np.int64)})


# (shape, axis, split sizes or None, outputs, opset): equal parts, opset
# 18's num_outputs with a smaller last part, given sizes with an empty part.
SPLITS = [((4, 6), 1, None, 3, 13), ((2, 7), 1, None, 3, 18),
          ((5, 3), 0, [2, 0, 3], 3, 13), ((3, 8, 2), -2, [5, 3], 2, 13)]


@pytest.mark.parametrize("shape,axis,sizes,outputs,opset", SPLITS)
@pytest.mark.parametrize("folded", [False, True])
def test_split(tmp_path, shape, axis, sizes, outputs, opset, folded):
    rng = np.random.default_rng(len(shape) + outputs)
    x = rng.standard_normal(shape).astype(np.float32)
    names = [f"y{i}" for i in range(outputs)]
    attrs = dict(axis=axis)
    if opset >= 18 and sizes is None:
        attrs["num_outputs"] = outputs
    node = helper.make_node("Split", ["x"] + (["split"] if sizes else []),
                            names, **attrs)
    initializers = []
    if sizes:
        initializers.append(numpy_helper.from_array(
            np.array(sizes, np.int64), "split"))
    if folded:
        initializers.append(numpy_helper.from_array(x, "x"))
        inputs = []
    else:
        inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                shape)]
    graph = helper.make_graph(
        [node], "split", inputs,
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, None)
         for n in names], initializers)
    model = helper.make_model(graph,
                              opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 9
    path = tmp_path / "split.onnx"
    onnx.save(model, path)
    feeds = {} if folded else {"x": x}
    want = ReferenceEvaluator(model).run(None, feeds)
    got = hgc_jit.Session(path, cache_dir="").run(None, feeds)
    for a, b in zip(got, want):
        assert a.shape == b.shape
        np.testing.assert_array_equal(a, b)


def test_split_sizes_must_add_up(tmp_path):
    node = helper.make_node("Split", ["x", "split"], ["a", "b"], axis=0,
                            name="halves")
    graph = helper.make_graph(
        [node], "split",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [5])],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, None)
         for n in "ab"],
        [numpy_helper.from_array(np.array([2, 2], np.int64), "split")])
    model = helper.make_model(graph,
                              opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 9
    onnx.save(model, tmp_path / "bad.onnx")
    with pytest.raises(hgc_jit.Error, match="halves.*do not split dimension 5"):
        hgc_jit.Session(tmp_path / "bad.onnx", cache_dir="").run(
            None, {"x": np.ones(5, np.float32)})


def test_empty_slice(tmp_path):
    """x[..., 16:] of a 16-wide axis (the rotary pass-through of a fully
    rotated head) is empty, and concatenating it changes nothing."""
    nodes = [helper.make_node("Slice", ["x", "s", "e", "a"], ["empty"]),
             helper.make_node("Concat", ["x", "empty"], ["y"], axis=-1)]
    graph = helper.make_graph(
        nodes, "slice",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 16])],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, None)
         for n in ("empty", "y")],
        [numpy_helper.from_array(np.array([v], np.int64), n)
         for n, v in (("s", 16), ("e", 2**62), ("a", 1))])
    model = helper.make_model(graph,
                              opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 9
    onnx.save(model, tmp_path / "slice.onnx")
    x = np.random.default_rng(1).standard_normal((2, 16)).astype(np.float32)
    empty, y = hgc_jit.Session(tmp_path / "slice.onnx", cache_dir="").run(
        None, {"x": x})
    assert empty.shape == (2, 0)
    np.testing.assert_array_equal(y, x)


@pytest.mark.parametrize("axis,bias,dtype", [(-1, True, np.float32),
                                             (1, False, np.float32),
                                             (-1, True, np.float16)])
def test_layer_normalization(tmp_path, axis, bias, dtype):
    """Opset-17 LayerNormalization (GPT-2, BERT, Phi-2): statistics in f32
    over dims axis.., scale and optional bias; against float64 numpy."""
    shape = (2, 3, 40)
    rng = np.random.default_rng(7)
    x = (rng.standard_normal(shape) * 3 + 1).astype(dtype)
    normalized = shape[axis:]
    scale = rng.standard_normal(normalized).astype(dtype)
    b = rng.standard_normal(normalized).astype(dtype)
    elem = TensorProto.FLOAT if dtype == np.float32 else TensorProto.FLOAT16
    node = helper.make_node("LayerNormalization",
                            ["x", "scale"] + (["b"] if bias else []), ["y"],
                            axis=axis, epsilon=1e-5)
    graph = helper.make_graph(
        [node], "ln", [helper.make_tensor_value_info("x", elem, shape)],
        [helper.make_tensor_value_info("y", elem, None)],
        [numpy_helper.from_array(scale, "scale")] +
        ([numpy_helper.from_array(b, "b")] if bias else []))
    model = helper.make_model(graph,
                              opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    onnx.save(model, tmp_path / "ln.onnx")
    (got,) = hgc_jit.Session(tmp_path / "ln.onnx", cache_dir="").run(
        None, {"x": x})
    axes = tuple(range(axis % len(shape), len(shape)))
    x64 = x.astype(np.float64)
    mean = x64.mean(axis=axes, keepdims=True)
    var = ((x64 - mean) ** 2).mean(axis=axes, keepdims=True)
    want = (x64 - mean) / np.sqrt(var + 1e-5) * scale.astype(np.float64)
    if bias:
        want = want + b.astype(np.float64)
    tol = 1e-5 if dtype == np.float32 else 4e-3
    assert got.dtype == dtype
    np.testing.assert_allclose(got.astype(np.float64), want, rtol=tol,
                               atol=tol)


@pytest.mark.parametrize("shape", [(5, 5), (2, 3, 6), (4, 7, 3)])
@pytest.mark.parametrize("upper", [1, 0])
@pytest.mark.parametrize("k", [None, 1, -2])
def test_trilu(tmp_path, shape, upper, k):
    """torch's triu/tril (older transformers build causal masks with
    triu(diagonal=1)): square and non-square, upper and lower, k absent,
    positive and negative."""
    x = np.random.default_rng(len(shape) + upper).standard_normal(
        shape).astype(np.float32)
    inputs = ["x"]
    initializers = []
    if k is not None:
        inputs.append("k")
        initializers.append(numpy_helper.from_array(np.array(k, np.int64),
                                                    "k"))
    path = tmp_path / "trilu.onnx"
    model = save_model(path, [helper.make_node("Trilu", inputs, ["y"],
                                               upper=upper)],
                       [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                      shape)], initializers)
    check(path, model, {"x": x})
