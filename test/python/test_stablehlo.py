"""The StableHLO frontend against JAX itself.

jax_programs.py writes attention programs with real JAX (CPU) in both print
forms; `hgc run` executes each and is compared with JAX's own result:
f32 atol/rtol 2e-5, bf16 1.5e-2 (the output is bfloat16). Malformed text and
unsupported ops must be located one-line errors.
"""
import subprocess

import numpy as np
import pytest

import jax_programs
from test_hgc_driver import expect_error, run

TOLERANCE = {np.float32: 2e-5, np.uint16: 1.5e-2}


def as_float(array):
    if array.dtype == np.uint16:  # bfloat16 bits
        return (array.astype(np.uint32) << 16).view(np.float32).astype(np.float64)
    return array.astype(np.float64)


@pytest.fixture(scope="module")
def exported():
    return {name: jax_programs.export(name) for name in jax_programs.PROGRAMS}


def write_inputs(tmp_path, inputs):
    args = []
    for i, array in enumerate(inputs):
        path = tmp_path / f"arg{i}.npy"
        np.save(path, jax_programs.to_npy(array))
        args += ["--input", f"arg{i}={path}"]
    return args


def run_exported(hgc, tmp_path, name, program, form):
    """`hgc run` on an exported JAX program in `form`: (hgc's result, JAX's),
    as numpy of one dtype and shape."""
    pretty, generic, inputs, want = program
    path = tmp_path / f"{name}.mlir"
    path.write_text(pretty if form == "pretty" else generic)
    result = run(hgc, "run", path, *write_inputs(tmp_path, inputs),
                 "--output-dir", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    # JAX names the result: result.npy.
    got = np.load(tmp_path / "out" / "result.npy")
    want = jax_programs.to_npy(want)
    assert got.dtype == want.dtype and got.shape == want.shape
    return got, want


@pytest.mark.parametrize("form", ["pretty", "generic"])
@pytest.mark.parametrize("name", list(jax_programs.PROGRAMS))
def test_program_matches_jax(hgc, tmp_path, exported, name, form):
    got, want = run_exported(hgc, tmp_path, name, exported[name], form)
    tolerance = TOLERANCE[want.dtype.type]
    np.testing.assert_allclose(as_float(got), as_float(want), atol=tolerance,
                               rtol=tolerance)


def test_forms_print_alike(hgc_opt, tmp_path, exported):
    """The generic form, parsed and printed, is the pretty form's print."""
    pretty, generic, _, _ = exported["masked"]
    outputs = []
    for form, text in (("pretty", pretty), ("generic", generic)):
        path = tmp_path / f"{form}.mlir"
        path.write_text(text)
        result = subprocess.run([hgc_opt, path], capture_output=True,
                                text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        outputs.append(result.stdout)
    assert outputs[0] == outputs[1]
    assert "stablehlo.dot_general" in outputs[0]


def test_bad_programs_are_located_errors(hgc, tmp_path, exported):
    pretty = exported["gqa_decode"][0]
    cases = {
        "truncated": (pretty[: len(pretty) // 2], "error"),
        "unknown_op": (pretty.replace("stablehlo.exponential",
                                      "stablehlo.frobnicate"),
                       "custom op 'stablehlo.frobnicate' is unknown"),
        "bad_dims": (pretty.replace("contracting_dims = [4] x [3]",
                                    "contracting_dims = [4] x [2]"),
                     "contracting dimension 2 is invalid"),
        "custom_call": ("""
func.func @main(%x: tensor<4xf32>) -> tensor<4xf32> {
  %y = stablehlo.custom_call @mystery(%x) : (tensor<4xf32>) -> tensor<4xf32>
  return %y : tensor<4xf32>
}""", "target 'mystery' is not supported"),
        "no_main": ("func.func @f() { return }", "no function @main"),
    }
    for name, (text, fragment) in cases.items():
        path = tmp_path / f"{name}.mlir"
        path.write_text(text)
        result = run(hgc, "run", path, "--output-dir", tmp_path / "out")
        expect_error(result, fragment)
        if name not in ("no_main",):
            assert f"{name}.mlir:" in result.stderr, result.stderr


def test_input_errors_name_the_argument(hgc, tmp_path, exported):
    pretty, _, inputs, _ = exported["gqa_decode"]
    program = tmp_path / "p.mlir"
    program.write_text(pretty)
    args = write_inputs(tmp_path, inputs)
    expect_error(run(hgc, "run", program, *args[:-2], "--output-dir",
                     tmp_path / "o"), "missing --input arg2=FILE.npy")
    expect_error(run(hgc, "run", program, *args, "--input", f"q={args[1][5:]}",
                     "--output-dir", tmp_path / "o"),
                 "@main has no argument 'q'")
    swapped = args[:1] + ["arg0=" + args[3].split("=", 1)[1]] + args[2:]
    expect_error(run(hgc, "run", program, *swapped, "--output-dir",
                     tmp_path / "o"), "arg0 expects")
    expect_error(run(hgc, "run", program, *args, "--shape", "x=1",
                     "--output-dir", tmp_path / "o"),
                 "--shape and --value apply to ONNX models")


DECODE = ["mha_decode", "gqa_decode", "gqa_bf16", "mqa_scale", "einsum_softmax",
          "composite", "cache_decode", "cache_decode_per_sequence",
          "concat_decode", "concat_decode_bf16"]


@pytest.mark.parametrize("name", list(jax_programs.PROGRAMS))
def test_attention_is_raised(hgc, tmp_path, exported, name):
    """Every program's attention becomes one hgc.attention; single-query
    ones are decode steps the placement splits."""
    program = tmp_path / "p.mlir"
    program.write_text(exported[name][0])
    result = run(hgc, "plan", program, "--policy", "hgca")
    assert result.returncode == 0, result.stderr
    # One attention (a masked decode step adds a line on its dense path).
    entries = [line for line in result.stdout.splitlines()
               if line.startswith("attention '")
               and "runs dense instead" not in line]
    assert len(entries) == 1, result.stdout
    assert ("': decode step" in result.stdout) == (name in DECODE), result.stdout
    compiled = tmp_path / "p.out.mlir"
    result = run(hgc, "compile", program, "--target", "host", "-o", compiled)
    assert result.returncode == 0, result.stderr
    text = compiled.read_text()
    assert "stablehlo." not in text


@pytest.mark.parametrize("target", ["host", "nvptx"])
@pytest.mark.parametrize("name", ["gqa_decode", "gqa_bf16", "einsum_softmax"])
def test_hybrid_split_of_a_jax_program(hgc, tmp_path, exported, name, target):
    """The JAX program split by placement (4 sinks + 16 recent tokens on the
    device, every host token selected) is still exactly JAX's attention, on
    the host and through the GPU kernels (emulated here); a sparse budget
    matches the HGCA reference."""
    import reference as ref
    pretty, _, inputs, want = exported[name]
    program = tmp_path / "p.mlir"
    program.write_text(pretty)
    args = write_inputs(tmp_path, inputs)
    out = tmp_path / "keep_all"
    result = run(hgc, "run", program, *args, "--output-dir", out, "--target",
                 target, "--policy", "hgca", "--sink", "4", "--window", "16",
                 "--budget", "1.0")
    assert result.returncode == 0, result.stderr
    want = jax_programs.to_npy(want)
    tolerance = TOLERANCE[want.dtype.type]
    np.testing.assert_allclose(as_float(np.load(out / "result.npy")),
                               as_float(want), atol=tolerance, rtol=tolerance)
    if name != "gqa_decode":
        return
    out = tmp_path / "sparse"
    result = run(hgc, "run", program, *args, "--output-dir", out, "--target",
                 target, "--policy", "hgca", "--sink", "4", "--window", "16",
                 "--budget", "0.25")
    assert result.returncode == 0, result.stderr
    q, k, v = (a.astype(np.float64) for a in inputs)   # BTNH / BSKH
    hybrid = ref.hybrid_decode(q[:, 0], k.transpose(0, 2, 1, 3),
                               v.transpose(0, 2, 1, 3), [k.shape[1]], 4, 16, 0.25)
    got = np.load(out / "result.npy")[:, 0]
    np.testing.assert_allclose(got, hybrid, atol=2e-5, rtol=2e-5)
    assert np.abs(got - as_float(want)[:, 0]).max() > 1e-4, "sparse must differ"


def test_damaged_text_never_crashes(hgc, tmp_path, exported):
    """Truncations and token swaps of real exports, in both forms: each is
    a clean run or a one-line located error, never a signal."""
    rng = np.random.default_rng(5)
    pretty, generic = exported["masked"][:2]
    swaps = [("dims = [", "dims = [9, "), ("x [", "x [7, "), ("tensor<", "tensor<0x"),
             ("applies stablehlo.maximum", "applies stablehlo.dot_general"),
             ("SIGNED", "FLOAT"), ("i1>", "f32>"), ("%", "%x"),
             ("dense<", "dense<[1, 2]"), ("stablehlo.add", "stablehlo.compare")]
    cases = []
    for text in (pretty, generic):
        for cut in rng.integers(0, len(text), 12):
            cases.append(text[:cut])
        for old, new in swaps:
            positions = [i for i in range(len(text)) if text.startswith(old, i)]
            if positions:
                i = int(rng.choice(positions))
                cases.append(text[:i] + new + text[i + len(old):])
    for n, text in enumerate(cases):
        path = tmp_path / f"case{n}.mlir"
        path.write_text(text)
        result = run(hgc, "plan", path)
        assert result.returncode in (0, 1), (n, result.returncode, result.stderr)
        if result.returncode:
            assert result.stderr.startswith("hgc: error: "), result.stderr


def test_compiled_program_is_cached(hgc, tmp_path, exported):
    """A second `hgc run` of the same program and options links the code
    the first stored (--cache-dir) and gives the same bytes; other options
    or other program bytes compile again."""
    pretty, _, inputs, want = exported["gqa_decode"]
    program = tmp_path / "p.mlir"
    program.write_text(pretty)
    args = write_inputs(tmp_path, inputs)
    cache = ["--cache-dir", tmp_path / "cache"]

    def step(name, *options):
        out = tmp_path / name
        result = run(hgc, "run", program, *args, "--output-dir", out, *cache,
                     *options)
        assert result.returncode == 0, result.stderr
        return result.stderr.split(": ")[2].split()[0], np.load(
            out / "result.npy")

    assert step("first")[0] == "compiled"
    how, first = step("again")
    assert how == "loaded"
    np.testing.assert_array_equal(first, step("first")[1])
    np.testing.assert_allclose(first, want, atol=2e-5, rtol=2e-5)
    placed = ["--policy", "hgca", "--budget", "0.5"]
    assert step("placed", *placed)[0] == "compiled"
    assert step("placed_again", *placed)[0] == "loaded"
    program.write_text(pretty.replace("jit_attention", "jit_other"))
    assert step("edited")[0] == "compiled"
