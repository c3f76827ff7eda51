"""Ops torch's exporters write around attention (GatherND for mask lookups,
IsNaN/IsInf for softmax's NaN guard), run by hgc and folded at import
time, against ONNX's reference evaluator."""
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
