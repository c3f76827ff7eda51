"""The hgc driver: subcommands, help, and every error path.

Errors are one line `hgc: error: ...` naming the file / tensor / node, with
exit code 1 (never a crash or a signal).
"""
import subprocess

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from conftest import ROOT

BACKEND = ROOT / "test" / "onnx-backend-node"
GQA = BACKEND / "test_attention_4d_gqa_with_past_and_present" / "model.onnx"


def run(hgc, *args):
    return subprocess.run([hgc, *map(str, args)], capture_output=True,
                          text=True, timeout=300)


def expect_error(result, *fragments):
    assert result.returncode == 1, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert lines and lines[0].startswith("hgc: error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def save_model(path, nodes, inputs, outputs, opset=23, initializers=()):
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(initializers))
    model = helper.make_model(graph,
                              opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 10
    onnx.save(model, path)
    return path


def attention_model(path, q=(1, 2, 1, 8), k=(1, 2, 5, 8), kv_type=None):
    f = TensorProto.FLOAT
    return save_model(path, [helper.make_node("Attention", ["Q", "K", "V"],
                                              ["Y"], name="attn")],
                      [helper.make_tensor_value_info("Q", f, list(q)),
                       helper.make_tensor_value_info("K", kv_type or f, list(k)),
                       helper.make_tensor_value_info("V", kv_type or f, list(k))],
                      [helper.make_tensor_value_info("Y", f, None)])


def inputs(tmp_path, **arrays):
    args = []
    for name, value in arrays.items():
        np.save(tmp_path / f"{name}.npy", value)
        args += ["--input", f"{name}={tmp_path / name}.npy"]
    return args


def randn(*shape, dtype=np.float32):
    return np.random.default_rng(0).standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("command", ["compile", "run", "plan"])
def test_help(hgc, command):
    result = run(hgc, command, "--help")
    assert result.returncode == 0
    for option in ("--policy", "--sink", "--window", "--budget", "--shape"):
        assert option in result.stdout


def test_missing_and_malformed_models(hgc, tmp_path):
    expect_error(run(hgc, "plan", tmp_path / "none.onnx"), "none.onnx",
                 "no such file")
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(bytes(range(256)) * 4)
    expect_error(run(hgc, "plan", garbage), "garbage.onnx",
                 "not a valid ONNX model")
    data = GQA.read_bytes()
    for cut in (1, len(data) // 3, len(data) - 7):
        truncated = tmp_path / f"cut{cut}.onnx"
        truncated.write_bytes(data[:cut])
        expect_error(run(hgc, "plan", truncated), truncated.name)


def test_input_errors(hgc, tmp_path):
    model = attention_model(tmp_path / "m.onnx")
    q, k = randn(1, 2, 1, 8), randn(1, 2, 5, 8)
    out = ["--output-dir", tmp_path / "out"]
    expect_error(run(hgc, "run", model, *inputs(tmp_path, Q=q, K=k), *out),
                 "missing --input V=FILE.npy", "float 1x2x5x8")
    expect_error(run(hgc, "run", model, *inputs(tmp_path, Q=q, K=k, V=k, W=k),
                     *out), "no input 'W'", "inputs: Q, K, V")
    expect_error(run(hgc, "run", model, *inputs(tmp_path, Q=q, K=k,
                                                V=k.astype(np.float64)), *out),
                 "V.npy", "input 'V' expects float 1x2x5x8 (<f4)",
                 "got 1x2x5x8 (<f8)")
    expect_error(run(hgc, "run", model, *inputs(tmp_path, Q=q, K=k,
                                                V=randn(2, 5, 8)), *out),
                 "input 'V' expects float 1x2x5x8", "got 2x5x8")
    expect_error(run(hgc, "run", model, *inputs(tmp_path, Q=q, K=k,
                                                V=randn(1, 2, 6, 8)), *out),
                 "got 1x2x6x8")
    bad = tmp_path / "bad.npy"
    bad.write_bytes(b"\x93NUMPY garbage")
    expect_error(run(hgc, "run", model, "--input", f"Q={bad}", *out),
                 "bad.npy")
    expect_error(run(hgc, "run", model, "--input", "Q", *out),
                 "is not NAME=FILE.npy")


def test_unsupported_op_names_node_type_and_domain(hgc, tmp_path):
    f = TensorProto.FLOAT
    model = save_model(
        tmp_path / "custom.onnx",
        [helper.make_node("Relu", ["X"], ["A"], name="first"),
         helper.make_node("FancyOp", ["A"], ["Y"], name="mystery",
                          domain="com.example")],
        [helper.make_tensor_value_info("X", f, [4])],
        [helper.make_tensor_value_info("Y", f, [4])])
    expect_error(run(hgc, "plan", model), "custom.onnx", "node 'mystery'",
                 "unsupported ONNX op 'FancyOp'", "domain 'com.example'")


def test_invalid_nodes_are_located(hgc, tmp_path):
    f = TensorProto.FLOAT
    shape = helper.make_tensor("shape", TensorProto.INT64, [2], [3, 5])
    model = save_model(
        tmp_path / "reshape.onnx",
        [helper.make_node("Reshape", ["X", "shape"], ["Y"], name="bad_reshape")],
        [helper.make_tensor_value_info("X", f, [4, 4])],
        [helper.make_tensor_value_info("Y", f, None)], initializers=[shape])
    expect_error(run(hgc, "plan", model), "node 'bad_reshape' (Reshape)",
                 "16 elements")
    heads = attention_model(tmp_path / "heads.onnx", q=(1, 3, 1, 8),
                            k=(1, 2, 5, 8))
    expect_error(run(hgc, "plan", heads), "heads.onnx", "attn")
    # Found by the fuzzer: a rank-0 mask once crashed the verifier.
    f = TensorProto.FLOAT
    scalar_mask = save_model(
        tmp_path / "scalar_mask.onnx",
        [helper.make_node("Attention", ["Q", "K", "V", "M"], ["Y"],
                          name="attn")],
        [helper.make_tensor_value_info("Q", f, [1, 2, 1, 8]),
         helper.make_tensor_value_info("K", f, [1, 2, 5, 8]),
         helper.make_tensor_value_info("V", f, [1, 2, 5, 8]),
         helper.make_tensor_value_info("M", TensorProto.BOOL, [])],
        [helper.make_tensor_value_info("Y", f, None)])
    expect_error(run(hgc, "plan", scalar_mask), "node 'attn'",
                 "mask must have rank >= 1")


def test_symbolic_dims_need_a_shape(hgc, tmp_path):
    model = attention_model(tmp_path / "sym.onnx", q=("b", 2, 1, 8),
                            k=("b", 2, "t", 8))
    expect_error(run(hgc, "plan", model), "graph input 'Q' has shape ?x2x1x8",
                 "--shape")
    expect_error(run(hgc, "plan", model, "--shape", "Q=1x2x1x9"),
                 "declared ?x2x1x8, given 1x2x1x9")
    result = run(hgc, "plan", model, "--shape", "Q=1x2x1x8",
                 "--shape", "K=1x2x40x8", "--shape", "V=1x2x40x8")
    assert result.returncode == 0, result.stderr
    assert "attention 'attn'" in result.stdout


def test_zero_length_kv_and_nan_inputs_do_not_crash(hgc, tmp_path):
    model = attention_model(tmp_path / "m.onnx", k=(1, 2, 0, 8))
    q = randn(1, 2, 1, 8)
    empty = np.zeros((1, 2, 0, 8), np.float32)
    result = run(hgc, "run", model, *inputs(tmp_path, Q=q, K=empty, V=empty),
                 "--output-dir", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    # No key to attend: ONNX's fully-masked convention gives zeros.
    assert np.array_equal(np.load(tmp_path / "out" / "Y.npy"),
                          np.zeros((1, 2, 1, 8), np.float32))
    model = attention_model(tmp_path / "n.onnx")
    k = randn(1, 2, 5, 8)
    k[0, 1, 2, 3] = np.nan
    result = run(hgc, "run", model, *inputs(tmp_path, Q=q, K=k, V=randn(1, 2, 5, 8)),
                 "--output-dir", tmp_path / "nan")
    assert result.returncode == 0, result.stderr
    y = np.load(tmp_path / "nan" / "Y.npy")
    assert np.isnan(y[0, 1]).all() and np.isfinite(y[0, 0]).all()


def test_compile_emits_mlir_llvm_and_objects(hgc, tmp_path):
    for emit, check in (("mlir", lambda b: b"hgc." in b or b"func.func" in b),
                        ("llvm", lambda b: b"define" in b),
                        ("obj", lambda b: b[:4] == b"\x7fELF")):
        out = tmp_path / f"m.{emit}"
        result = run(hgc, "compile", GQA, "--emit", emit, "-o", out)
        assert result.returncode == 0, result.stderr
        assert check(out.read_bytes()), emit
    expect_error(run(hgc, "compile", GQA, "--emit", "wasm", "-o",
                     tmp_path / "x"), "--emit wasm")
    expect_error(run(hgc, "compile", GQA, "--target", "tpu", "-o",
                     tmp_path / "x"), "--target tpu")


def test_compile_objects_for_a_named_cpu(hgc, tmp_path):
    """--cpu picks the object's CPU (an AVX-512 one here), not the build
    machine's; a name LLVM does not know is a one-line error."""
    out = tmp_path / "m.o"
    result = run(hgc, "compile", GQA, "--emit", "obj", "--cpu", "znver4",
                 "-o", out)
    assert result.returncode == 0, result.stderr
    assert out.read_bytes()[:4] == b"\x7fELF"
    expect_error(run(hgc, "compile", GQA, "--emit", "obj", "--cpu", "zen99",
                     "-o", tmp_path / "x.o"), "unknown --cpu 'zen99'")
    assert not (tmp_path / "x.o").exists()


def test_failed_compile_leaves_no_output(hgc, tmp_path):
    """-o is written only when the output is complete: PTX of a model with
    no attention fails and writes no empty file."""
    out = tmp_path / "m.ptx"
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])], "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 8])])
    model = tmp_path / "relu.onnx"
    onnx.save(helper.make_model(graph), model)
    expect_error(run(hgc, "compile", model, "--target", "nvptx", "--emit",
                     "ptx", "-o", out), "no device-tier attention")
    assert not out.exists()


def test_plan_reports_tiers_and_bytes(hgc, tmp_path):
    model = attention_model(tmp_path / "p.onnx", q=(1, 4, 1, 16),
                            k=(1, 2, 3000, 16))
    result = run(hgc, "plan", model, "--policy", "hgca", "--window", "1000",
                 "--budget", "0.1")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "decode step, batch 1, q_heads 4, kv_heads 2, head_dim 16" in out
    # 4 sink + 1000 window on the device, the rest on the host; f32 K and V
    # of 2 heads x 16 dims = 256 bytes per token.
    assert "device  dense" in out and "tokens 1004 (33.5%)" in out
    assert "host    exact_topk budget 0.1" in out and "tokens 1996" in out
    assert "attended 200 per kv head" in out
    expect_error(run(hgc, "plan", model, "--policy", "magic"), "magic")


def test_target_names_where_the_device_tier_runs(hgc, tmp_path):
    """--target says where the device tier runs, not whether there is a
    split: host with a splitting policy still has a host tier, `hybrid` (the
    older name) reads as host, and the default policy is one tier."""
    model = attention_model(tmp_path / "t.onnx", q=(1, 4, 1, 16),
                            k=(1, 2, 3000, 16))
    flags = ["--policy", "hgca", "--window", "1000", "--budget", "0.1"]
    plans = {}
    for target in ("host", "hybrid"):
        result = run(hgc, "plan", model, *flags, "--target", target)
        assert result.returncode == 0, result.stderr
        plans[target] = result.stdout
    assert plans["host"] == plans["hybrid"]
    assert "host    exact_topk budget 0.1" in plans["host"]
    result = run(hgc, "plan", model, "--target", "host")
    assert result.returncode == 0, result.stderr
    assert "host    " not in result.stdout and "tokens 3000" in result.stdout


def test_plan_and_run_quest_blocks(hgc, tmp_path):
    """--policy quest --block: the host selects whole blocks (a 100-token
    budget is 4 blocks of 32); the same flags run the model, and a block
    size that is not a power of two is a one-line error."""
    model = attention_model(tmp_path / "q.onnx", q=(1, 4, 1, 16),
                            k=(1, 2, 3000, 16))
    flags = ["--policy", "quest", "--sink", "32", "--window", "1000",
             "--budget", "100", "--block", "32"]
    result = run(hgc, "plan", model, *flags)
    assert result.returncode == 0, result.stderr
    assert "block 32" in result.stdout
    assert "host    block_topk budget 4 blocks (blocks of 32)" in result.stdout
    assert "attended 128 per kv head" in result.stdout
    expect_error(run(hgc, "plan", model, "--policy", "quest", "--block", "24"),
                 "block must be a positive power of two, got 24")


def test_plan_and_run_hca(hgc, tmp_path):
    """--policy hca --tau: the host scores int8 key codes and keeps by mass,
    the budget a cap. The plan shows what each tier reads per step: a
    model's past comes without kept codes, so the host tier quantizes its
    keys each step (reading them, as hgca scores them) before at most its
    budget of f32 K and V. The same flags run the model, matching
    HCAttention's float64 reference; tau outside (0, 1] is a one-line
    error."""
    import reference as ref
    model = attention_model(tmp_path / "h.onnx", q=(1, 4, 1, 16),
                            k=(1, 2, 3000, 16))
    flags = ["--policy", "hca", "--window", "1000", "--budget", "0.1",
             "--tau", "0.8"]
    result = run(hgc, "plan", model, *flags)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "tau 0.8" in out.splitlines()[0]
    # Device: 1004 tokens x 2 heads x (16 + 16) x 4 bytes = 251.0 KiB.
    assert "reads 251.0 KiB per step" in out
    # Host: 1996 x 2 x 64 keys quantized + 200 x 2 x 128 K and V = 299.5 KiB.
    assert "host    quant_topk budget 0.1 mass 0.8" in out
    assert ("attended <= 200 per kv head  reads <= 299.5 KiB per step (no "
            "codes kept with the KV: quantizes its keys each step)") in out
    hgca = run(hgc, "plan", model, "--policy", "hgca", "--window", "1000",
               "--budget", "0.1").stdout
    # hgca scores every f32 key: 1996 x 2 x 64 + the same 51200 = 299.5 KiB.
    assert "attended 200 per kv head  reads 299.5 KiB per step" in hgca

    rng = np.random.default_rng(21)
    q = rng.standard_normal((1, 4, 1, 16)).astype(np.float32)
    k = rng.standard_normal((1, 2, 3000, 16)).astype(np.float32)
    v = rng.standard_normal((1, 2, 3000, 16)).astype(np.float32)
    result = run(hgc, "run", model, *inputs(tmp_path, Q=q, K=k, V=v), *flags,
                 "--output-dir", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    y = np.load(tmp_path / "out" / "Y.npy")[0, :, 0]
    want, _ = ref.hca_decode(q[:, :, 0].astype(np.float64),
                             k.astype(np.float64), v.astype(np.float64),
                             [3000], 4, 1000, 0.1, 0.8)
    np.testing.assert_allclose(y, want[0], atol=2e-5, rtol=2e-5)
    expect_error(run(hgc, "plan", model, "--policy", "hca", "--tau", "0"),
                 "tau must be in (0, 1], got 0")


def test_plan_and_run_sparf_three_tiers(hgc, tmp_path):
    """--policy sparf --channels --host-capacity: the host keeps the oldest
    1000 cold tokens, storage the other 996, each scored on the query's 4
    largest channels; the plan lists three tiers and what each reads; the
    same flags run the model, matching SparF's float64 reference; channels
    wider than head_dim are an error naming the op."""
    import reference as ref
    model = attention_model(tmp_path / "s.onnx", q=(1, 4, 1, 16),
                            k=(1, 2, 3000, 16))
    flags = ["--policy", "sparf", "--window", "1000", "--budget", "0.1",
             "--channels", "4", "--host-capacity", "1000"]
    result = run(hgc, "plan", model, *flags)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "channels 4, host capacity 1000" in out.splitlines()[0]
    assert "host    channel_topk budget 0.1 channels 4" in out
    assert "tokens 1000 (33.3%)" in out
    assert "storage channel_topk budget 0.1 channels 4" in out
    assert "tokens 996 (33.2%)" in out
    # Storage: 996 x 2 x (64 + 64) read for scores and the mean, then
    # 100 x 2 x 128 K and V = 274.0 KiB.
    assert ("attended 100 per kv head  reads 274.0 KiB per step (no "
            "channel-major keys or value sums kept with the KV") in out

    rng = np.random.default_rng(31)
    q = rng.standard_normal((1, 4, 1, 16)).astype(np.float32)
    k = rng.standard_normal((1, 2, 3000, 16)).astype(np.float32)
    v = rng.standard_normal((1, 2, 3000, 16)).astype(np.float32) + 0.5
    result = run(hgc, "run", model, *inputs(tmp_path, Q=q, K=k, V=v), *flags,
                 "--output-dir", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    y = np.load(tmp_path / "out" / "Y.npy")[0, :, 0]
    want, _, _ = ref.sparf_decode(q[:, :, 0].astype(np.float64),
                                  k.astype(np.float64), v.astype(np.float64),
                                  [3000], 4, 1000, 0.1, 4, 1000)
    np.testing.assert_allclose(y, want[0], atol=2e-5, rtol=2e-5)
    expect_error(run(hgc, "plan", model, "--policy", "sparf", "--channels",
                     "17"), "channel_topk channels 17 of tier 'host' exceed "
                 "head_dim 16")
