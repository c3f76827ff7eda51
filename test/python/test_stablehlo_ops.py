"""The StableHLO ops of JAX decoders beyond attention, against JAX itself:
elementwise math with edge values, integer ops with the spec's edge cases,
and a decoder step's data movement (RoPE, a cache written at a traced
position, a window read back, padding), in both print forms. f32 within
2e-5 (relative for large values), bf16 within bf16 rounding."""
import numpy as np
import pytest

import jax_programs
from test_hgc_driver import expect_error, run
from test_stablehlo import as_float, run_exported


@pytest.mark.parametrize("form", ["pretty", "generic"])
@pytest.mark.parametrize("name", list(jax_programs.OP_PROGRAMS))
def test_ops_match_jax(hgc, tmp_path, name, form):
    got, want = run_exported(hgc, tmp_path, name, jax_programs.export(name),
                             form)
    if want.dtype.kind == "i":
        np.testing.assert_array_equal(got, want)
        return
    tolerance = 1.5e-2 if want.dtype == np.uint16 else 2e-5
    np.testing.assert_allclose(as_float(got), as_float(want), atol=tolerance,
                               rtol=tolerance)


@pytest.mark.parametrize("body,message", [
    ("%r = stablehlo.slice %a [0:9] : (tensor<8xf32>) -> tensor<9xf32>",
     "is not a slice of 8"),
    ("%r = stablehlo.concatenate %a, %a, dim = 1 : (tensor<8xf32>, "
     "tensor<8xf32>) -> tensor<16xf32>", "dimension 1 is outside rank 1"),
    ("%i = stablehlo.constant dense<0> : tensor<i32>\n"
     "  %r = stablehlo.dynamic_slice %a, %i, sizes = [9] : (tensor<8xf32>, "
     "tensor<i32>) -> tensor<9xf32>", "slice size 9 of dimension 0"),
    ("%i = stablehlo.constant dense<0> : tensor<i32>\n"
     "  %r = stablehlo.dynamic_update_slice %a, %a, %i, %i : (tensor<8xf32>, "
     "tensor<8xf32>, tensor<i32>, tensor<i32>) -> tensor<8xf32>",
     "needs one start index per dimension"),
    ("%v = stablehlo.constant dense<0.0> : tensor<f32>\n"
     "  %r = stablehlo.pad %a, %v, low = [1], high = [1], interior = [0] : "
     "(tensor<8xf32>, tensor<f32>) -> tensor<9xf32>",
     "is not the padded shape"),
])
def test_bad_shapes_are_located_errors(hgc, tmp_path, body, message):
    program = tmp_path / "bad.mlir"
    program.write_text("func.func @main(%a: tensor<8xf32>) -> tensor<8xf32> "
                       "{\n  " + body + "\n  return %a : tensor<8xf32>\n}\n")
    np.save(tmp_path / "a.npy", np.ones(8, np.float32))
    result = run(hgc, "run", program, "--input", f"a={tmp_path / 'a.npy'}",
                 "--output-dir", tmp_path / "out")
    expect_error(result, message)
    assert "bad.mlir:" in result.stderr  # located


@pytest.mark.parametrize("name", list(jax_programs.OP_PROGRAMS))
def test_forms_print_alike(hgc_opt, tmp_path, name):
    """Both forms parse and print the same, and the print parses again to
    itself (the new ops round-trip in the pretty form)."""
    import subprocess
    pretty, generic, _, _ = jax_programs.export(name)
    outputs = []
    forms = (("pretty", pretty), ("generic", generic), ("again", None))
    for form, text in forms:
        path = tmp_path / f"{form}.mlir"
        path.write_text(text if text is not None else outputs[0])
        result = subprocess.run([hgc_opt, path], capture_output=True,
                                text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        outputs.append(result.stdout)
    assert outputs[0] == outputs[1] == outputs[2]


@pytest.mark.parametrize("name,positions", [
    ("cache_decode", [40, 40]), ("cache_decode_per_sequence", [10, 40])])
def test_preallocated_cache_is_a_decode_step(hgc, tmp_path, name, positions):
    """Attention over a cache JAX writes at the current position (one for
    the batch: dynamic_update_slice; per sequence: a scatter) and masks
    with `iota <= position` is placed and split as a decode step over each
    sequence's valid prefix (the mask, the same for every head, becomes the
    cache's lengths at run time): budget 1.0 equals JAX, a sparse budget
    equals the float64 hybrid reference over the first position + 1
    tokens of each sequence."""
    import reference as ref
    from test_stablehlo import write_inputs
    pretty, _, inputs, want = jax_programs.export(name)
    program = tmp_path / f"{name}.mlir"
    program.write_text(pretty)
    placement = ["--policy", "hgca", "--sink", "4", "--window", "8"]
    plan = run(hgc, "plan", program, *placement, "--budget", "0.5")
    assert plan.returncode == 0, plan.stderr
    assert "decode step, batch 2, q_heads 8, kv_heads 2" in plan.stdout
    feeds = write_inputs(tmp_path, inputs)
    outputs = {}
    for budget in ("1.0", "0.5"):
        result = run(hgc, "run", program, *feeds, *placement, "--budget",
                     budget, "--output-dir", tmp_path / budget)
        assert result.returncode == 0, result.stderr
        outputs[budget] = np.load(tmp_path / budget / "result.npy")
    np.testing.assert_allclose(outputs["1.0"], want, atol=2e-5, rtol=2e-5)
    # The reference over the caches as written: [B, heads, tokens, dim].
    q, new_k, new_v, cache_k, cache_v = [np.asarray(x, np.float64)
                                         for x in inputs[:5]]
    for row, p in enumerate(positions):
        cache_k[row, p], cache_v[row, p] = new_k[row, 0], new_v[row, 0]
    lengths = [p + 1 for p in positions]
    sparse = ref.hybrid_decode(q[:, 0], cache_k.transpose(0, 2, 1, 3),
                               cache_v.transpose(0, 2, 1, 3), lengths, 4, 8,
                               0.5)
    np.testing.assert_allclose(outputs["0.5"][:, 0], sparse, atol=2e-5,
                               rtol=2e-5)
    assert np.abs(outputs["0.5"] - want).max() > 1e-4  # it is sparse
