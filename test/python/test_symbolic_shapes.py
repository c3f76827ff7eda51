"""Shape arithmetic over dynamic dims, as exporters write it: each graph is
compiled once by `hgc compile` with its symbolic dims left dynamic, then run
at several sizes without compiling, against onnxruntime (exact for integer
and copy results, 1e-5 for float arithmetic). Ops that cannot take a dynamic
dim are a located one-line error."""
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
from conftest import compile_artifact  # noqa: E402

F, I64 = TensorProto.FLOAT, TensorProto.INT64


def const(name, values, dtype=np.int64):
    return helper.make_node("Constant", [], [name],
                            value=numpy_helper.from_array(
                                np.array(values, dtype), name))


def node(op, inputs, outputs, **attrs):
    return helper.make_node(op, inputs, outputs, **attrs)


def gather(shape, index, out):
    """Gather(shape, index) -> scalar `out` (with its index constant)."""
    return [const(out + "_i", index), node("Gather", [shape, out + "_i"],
                                          [out], axis=0)]


def unsqueeze(x, out):
    return [const(out + "_a", [0]), node("Unsqueeze", [x, out + "_a"], [out])]


def build(nodes, inputs, outputs=("y",)):
    graph = helper.make_graph(
        nodes, "symbolic",
        [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs],
        [helper.make_tensor_value_info(n, F, None)
         for n in outputs])
    model = helper.make_model(graph,
                              opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    return model


def heads_attention():
    """x [B, T, 8] -> reshape to [B, T, 2, 4] by a target computed from
    Shape (batch and length symbolic, head count known), attention over T
    with a causal mask from Range/LessOrEqual and Where(Equal(shape, -1))
    around Expand, then reshaped back by Shape of x."""
    nodes = [node("Shape", ["x"], ["s"])]
    nodes += gather("s", 0, "b") + gather("s", 1, "t")
    nodes += unsqueeze("b", "b1") + unsqueeze("t", "t1")
    nodes += [const("heads", [2]), const("minus1", [-1]),
              node("Concat", ["b1", "t1", "heads", "minus1"], ["target"],
                   axis=0),
              node("Reshape", ["x", "target"], ["q4"]),
              node("Transpose", ["q4"], ["q"], perm=[0, 2, 1, 3]),
              node("Transpose", ["q"], ["kt"], perm=[0, 1, 3, 2]),
              node("MatMul", ["q", "kt"], ["scores"])]
    # Causal mask [1, 1, T, T]: key <= query, expanded to [B, 1, T, T].
    nodes += [const("zero", 0), const("one", 1),
              node("Range", ["zero", "t", "one"], ["r"])]
    nodes += [const("ax0", [0]), const("ax1", [1]),
              node("Unsqueeze", ["r", "ax0"], ["keys"]),
              node("Unsqueeze", ["r", "ax1"], ["queries"]),
              node("LessOrEqual", ["keys", "queries"], ["allowed2"]),
              const("ax01", [0, 1]),
              node("Unsqueeze", ["allowed2", "ax01"], ["allowed"]),
              const("unit", [1]),
              node("Concat", ["b1", "unit", "t1", "t1"], ["mshape"], axis=0),
              node("ConstantOfShape", ["unit"], ["ones"],
                   value=numpy_helper.from_array(np.array([1], np.int64))),
              node("Mul", ["ones", "minus1"], ["negs"]),
              node("Equal", ["mshape", "negs"], ["is_neg"]),
              node("Where", ["is_neg", "ones", "mshape"], ["mshape2"]),
              node("Expand", ["allowed", "mshape2"], ["mask"]),
              const("neg_inf", np.float32(-1e30), np.float32),
              const("zero_f", np.float32(0), np.float32),
              node("Where", ["mask", "zero_f", "neg_inf"], ["bias"]),
              node("Add", ["scores", "bias"], ["masked"]),
              node("Softmax", ["masked"], ["p"], axis=-1),
              node("MatMul", ["p", "q"], ["o"]),
              node("Transpose", ["o"], ["o2"], perm=[0, 2, 1, 3]),
              node("Reshape", ["o2", "s"], ["y"])]
    return build(nodes, [("x", F, ["B", "T", 8])])


def slices_and_concat():
    """x[:, 1:T-1] by bounds computed from Shape, a Concat along the
    dynamic axis, Flatten, a Gather of run-time rows from run-time data,
    ReduceMean over the dynamic axis (its divisor read at run time) and
    ConstantOfShape(Shape(x))."""
    nodes = [node("Shape", ["x"], ["s"])]
    nodes += gather("s", 1, "t") + unsqueeze("t", "t1")
    nodes += [const("one_v", [1]), const("axis1", [1]),
              node("Sub", ["t1", "one_v"], ["end"]),
              node("Slice", ["x", "one_v", "end", "axis1"], ["inner"]),
              node("Concat", ["x", "inner"], ["joined"], axis=1),
              node("Flatten", ["joined"], ["flat"], axis=2),
              node("Gather", ["flat", "rows"], ["picked"], axis=0),
              node("ReduceMean", ["joined", "axis1"], ["mean"], keepdims=1),
              node("ConstantOfShape", ["s"], ["twos"],
                   value=numpy_helper.from_array(np.array([2.0], np.float32))),
              node("Mul", ["x", "twos"], ["doubled"]),
              node("Sub", ["doubled", "mean"], ["y"])]
    return build(nodes, [("x", F, ["B", "T", 3]), ("rows", I64, ["R"])],
                 ("y", "picked"))


def regroup():
    """Reshape [B, T, 3] to [T, B, 3] (sizes from Shape): no grouping keeps
    the dynamic dims whole, so the elements are copied in row-major order."""
    nodes = [node("Shape", ["x"], ["s"])]
    nodes += gather("s", 0, "b") + gather("s", 1, "t")
    nodes += unsqueeze("b", "b1") + unsqueeze("t", "t1")
    nodes += [const("three", [3]),
              node("Concat", ["t1", "b1", "three"], ["target"], axis=0),
              node("Reshape", ["x", "target"], ["y"])]
    return build(nodes, [("x", F, ["B", "T", 3])])


def causal_bias():
    """The causal mask older transformers export: a [T, T] matrix of
    finfo.min (ConstantOfShape over Shape), Trilu(k=1) keeping the future,
    added to scores [B, T, T]."""
    nodes = [node("Shape", ["x"], ["s"])]
    nodes += gather("s", 1, "t") + unsqueeze("t", "t1")
    nodes += [node("Concat", ["t1", "t1"], ["square"], axis=0),
              node("ConstantOfShape", ["square"], ["lowest"],
                   value=numpy_helper.from_array(
                       np.array([-3.4e38], np.float32))),
              const("one", 1),
              node("Trilu", ["lowest", "one"], ["future"], upper=1),
              node("Add", ["x", "future"], ["y"])]
    return build(nodes, [("x", F, ["B", "T", "T2"])])


def feeds_for(model, sizes, seed):
    rng = np.random.default_rng(seed)
    feeds = {}
    for info in model.graph.input:
        shape = [sizes.get(d.dim_param, d.dim_value)
                 for d in info.type.tensor_type.shape.dim]
        if info.type.tensor_type.elem_type == I64:
            # Rows of slices_and_concat's flattened [B * (T + T - 2), 3],
            # negatives included.
            rows = sizes["B"] * (sizes["T"] + max(sizes["T"] - 2, 0))
            feeds[info.name] = rng.integers(-rows, rows, shape)
        else:
            feeds[info.name] = rng.standard_normal(shape).astype(np.float32)
    return feeds


@pytest.mark.parametrize("build_model,sizes", [
    (heads_attention, [dict(B=1, T=3), dict(B=2, T=7), dict(B=3, T=1)]),
    (slices_and_concat, [dict(B=1, T=3, R=2), dict(B=2, T=6, R=5),
                         dict(B=4, T=2, R=1)]),
    (regroup, [dict(B=2, T=3), dict(B=5, T=1)]),
    (causal_bias, [dict(B=2, T=4, T2=4), dict(B=1, T=7, T2=7)])])
def test_one_compile_serves_every_size(hgc, tmp_path, build_model, sizes):
    model = build_model()
    path = tmp_path / "model.onnx"
    onnx.save(model, path)
    artifact = compile_artifact(hgc, path, tmp_path / "model.hgcm")
    session = hgc_jit.Session(artifact, cache_dir="")
    reference = onnxruntime.InferenceSession(str(path))
    for seed, size in enumerate(sizes):
        feeds = feeds_for(model, size, seed)
        got = session.run(None, feeds)
        assert not session.last_stats.compiled
        for name, a, b in zip(session.output_names, got,
                              reference.run(None, feeds)):
            assert a.shape == b.shape and a.dtype == b.dtype, (name, size)
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5,
                                       err_msg=f"{name} {size}")


def test_shapes_stay_static_where_known(hgc, tmp_path):
    """The reshape target [B, T, 2, -1] infers 4 (the dims it shares with
    the input cancel), and the head reshape is an expand_shape keeping every
    known dim static."""
    path = tmp_path / "model.onnx"
    onnx.save(heads_attention(), path)
    out = tmp_path / "model.mlir"
    result = subprocess.run([hgc, "compile", path, "--emit", "mlir", "-o",
                             out, "--policy", "full"], capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr
    ir = out.read_text()
    assert "tensor<?x?x2x4xf32>" in ir and "tensor<?x2x?x4xf32>" in ir
    assert "tensor.reshape" not in ir


def compile_error(hgc, path, artifact):
    """The one line `hgc compile` fails with."""
    result = subprocess.run([hgc, "compile", path, "-o", artifact],
                            capture_output=True, text=True)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_op_without_dynamic_sizes_is_a_located_error(hgc, tmp_path):
    """Pad takes static shapes only: compiling with the dim dynamic names
    the node and asks for a size; given one, it compiles."""
    nodes = [const("pads", [0, 1, 0, 1]), node("Pad", ["x", "pads"], ["y"],
                                               name="pad_tokens")]
    path = tmp_path / "pad.onnx"
    onnx.save(build(nodes, [("x", F, ["B", 4])]), path)
    line = compile_error(hgc, path, tmp_path / "a.hgcm")
    assert "pad_tokens" in line and "give the dimension a size" in line
    compile_artifact(hgc, path, tmp_path / "b.hgcm", "--dim", "B=3")


def test_sizes_that_disagree_at_run_time_are_an_error(hgc, tmp_path):
    """Two symbols the graph requires equal (x [B, T] + z [B, U]): the code
    checks them before reading, so a run where they differ is a one-line
    error naming the node and both sizes, and the session runs on."""
    nodes = [node("Add", ["x", "z"], ["y"], name="add_xz")]
    path = tmp_path / "add.onnx"
    onnx.save(build(nodes, [("x", F, ["B", "T"]), ("z", F, ["B", "U"])]),
              path)
    session = hgc_jit.Session(
        compile_artifact(hgc, path, tmp_path / "add.hgcm"), cache_dir="")
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    with pytest.raises(hgc_jit.Error) as error:
        session.run(None, {"x": x, "z": np.ones((2, 5), np.float32)})
    message = str(error.value)
    assert "\n" not in message and "add_xz" in message
    assert "(5 vs 3 at run time)" in message
    (y,) = session.run(None, {"x": x, "z": np.ones((2, 3), np.float32)})
    np.testing.assert_array_equal(y, x + 1)


def test_reshape_that_cannot_keep_the_count_is_an_import_error(hgc, tmp_path):
    """[B, 6] to [B, 4] (the target from Shape): the dims they share
    cancel and what is left differs, so the compile fails at the node
    instead of leaving a check that fails on every run."""
    nodes = [node("Shape", ["x"], ["s"])]
    nodes += gather("s", 0, "b") + unsqueeze("b", "b1")
    nodes += [const("four", [4]),
              node("Concat", ["b1", "four"], ["target"], axis=0),
              node("Reshape", ["x", "target"], ["y"], name="bad_reshape")]
    path = tmp_path / "reshape.onnx"
    onnx.save(build(nodes, [("x", F, ["B", 6])]), path)
    line = compile_error(hgc, path, tmp_path / "r.hgcm")
    assert "bad_reshape" in line and "element count" in line
