"""MatMul and Gemm as imported models run them (weights as initializers,
streamed by convert-hgc-to-loops' contraction loops) = float64 numpy."""
import pathlib
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "jit" / "python"))
import hgc_jit  # noqa: E402

TYPES = {np.float32: TensorProto.FLOAT, np.float16: TensorProto.FLOAT16}


def matmul_model(path, x_shape, w, dtype, op="MatMul", **attrs):
    inputs = [helper.make_tensor_value_info("x", TYPES[dtype], x_shape)]
    node = helper.make_node(op, ["x", "w"], ["y"], **attrs)
    graph = helper.make_graph(
        [node], "mm", inputs,
        [helper.make_tensor_value_info("y", TYPES[dtype], None)],
        [numpy_helper.from_array(w.astype(dtype), "w")])
    model = helper.make_model(graph,
                              opset_imports=[helper.make_opsetid("", 21)])
    model.ir_version = 10
    onnx.save(model, path)


# (x shape, K, N): a decode GEMV cut into chunks, a tail of N % 8 columns,
# a few rows, rows in blocks of 8 with a short last block, a 1-D x.
CASES = [((1, 1, 1024), 1024, 200), ((1, 1, 300), 300, 37),
         ((2, 3, 64), 64, 24), ((20, 96), 96, 72), ((96,), 96, 16)]


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
@pytest.mark.parametrize("x_shape,k,n", CASES)
def test_matmul_against_float64(tmp_path, x_shape, k, n, dtype):
    rng = np.random.default_rng(k * n)
    w = rng.standard_normal((k, n)) / np.sqrt(k)
    x = rng.standard_normal(x_shape).astype(dtype)
    path = tmp_path / "mm.onnx"
    matmul_model(path, list(x_shape), w, dtype)
    want = x.astype(np.float64) @ w.astype(dtype).astype(np.float64)
    for param_min_bytes in (None, -1):  # weights mapped, then as constants
        session = hgc_jit.Session(path, param_min_bytes=param_min_bytes)
        (got,) = session.run(None, {"x": x})
        assert got.dtype == dtype and got.shape == want.shape
        # f32 accumulation; f16 results are rounded once at the end.
        tol = 1e-5 if dtype == np.float32 else 2e-3
        np.testing.assert_allclose(got.astype(np.float64), want, rtol=tol,
                                   atol=tol)


def test_gemm_transposed_weights_against_float64(tmp_path):
    """Gemm(transB=1), how Linear layers are often exported: a contraction
    of another shape, still exact."""
    rng = np.random.default_rng(9)
    w = rng.standard_normal((48, 256)) / 16
    x = rng.standard_normal((3, 256)).astype(np.float32)
    path = tmp_path / "gemm.onnx"
    matmul_model(path, [3, 256], w, np.float32, op="Gemm", transB=1)
    (got,) = hgc_jit.Session(path).run(None, {"x": x})
    np.testing.assert_allclose(got, x.astype(np.float64) @ w.T, rtol=1e-5,
                               atol=1e-5)
