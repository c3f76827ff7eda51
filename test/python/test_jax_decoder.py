"""Whole JAX decoders through `hgc run` and `hgc plan`, against JAX itself.

A Llama-style decode step (jax_decoder.py: embedding gather, RMSNorm, RoPE,
GQA attention over a preallocated cache written at the current position,
SwiGLU; layers scanned in a stablehlo.while or unrolled) runs several steps
in a row, each from the caches hgc wrote the step before (JAX runs the same
inputs), and every step's logits and caches are compared. Tolerances: f32 1e-4 (absolute and
relative); bf16 5e-2 of the largest magnitude (each side is ~1e-2 from
the same model in f32: XLA keeps f32 between fused bf16 ops where hgc
rounds each op), and hgc's bf16 step no further from the model in f32 than
twice JAX's bf16 step is.
"""
import dataclasses

import numpy as np
import pytest

import jax
import jax.numpy as jnp
import jax_decoder
from test_hgc_driver import expect_error, run
from test_stablehlo import as_float, write_inputs

STEPS = 4
F32_TOLERANCE = 1e-4
BF16_TOLERANCE = 5e-2  # of the largest magnitude

VARIANTS = {
    "scanned_f32": jax_decoder.Config(),
    "unrolled_f32": jax_decoder.Config(scanned=False),
    "scanned_bf16": jax_decoder.Config(dtype="bf16"),
    "unrolled_bf16": jax_decoder.Config(dtype="bf16", scanned=False),
    "scanned_per_sequence": jax_decoder.Config(per_sequence=True),
}


def run_step(hgc, program, folder, arrays, *options):
    """hgc's (logits, cache_k, cache_v) for one step, as float64."""
    out = folder / "out"
    folder.mkdir(parents=True, exist_ok=True)
    arrays = [np.asarray(a) for a in arrays]
    result = run(hgc, "run", program, *write_inputs(folder, arrays),
                 "--output-dir", out, *options)
    assert result.returncode == 0, result.stderr
    # JAX names the results result[0], result[1], ...
    return [np.load(out / f"result_{i}_.npy") for i in range(3)]


def compare(got, want, dtype, what):
    want = jax_decoder.to_npy(want)
    assert got.dtype == want.dtype and got.shape == want.shape, what
    if dtype == "f32":
        np.testing.assert_allclose(got, want, atol=F32_TOLERANCE,
                                   rtol=F32_TOLERANCE, err_msg=what)
        return
    # A bf16 model's f32 logits too.
    scale = np.abs(as_float(want)).max()
    error = np.abs(as_float(got) - as_float(want)).max() / scale
    assert error <= BF16_TOLERANCE, f"{what}: {error} of {scale}"


@pytest.mark.parametrize("name", list(VARIANTS))
def test_decode_steps_match_jax(hgc, tmp_path, name):
    """STEPS decode steps with a growing cache equal JAX step by step."""
    config = VARIANTS[name]
    pretty, _, (tokens, position, cache_k, cache_v, params), step = \
        jax_decoder.export(config)
    program = tmp_path / "step.mlir"
    program.write_text(pretty)
    caches = (cache_k, cache_v)
    for i in range(STEPS):
        tokens = jax_decoder.tokens_for(config, i)
        want = step(tokens, position, *caches, params)
        arrays = jax_decoder.flatten((tokens, position, *caches, params))
        got = run_step(hgc, program, tmp_path / f"step{i}", arrays)
        for what, g, w in zip(("logits", "cache_k", "cache_v"), got, want):
            compare(g, w, config.dtype, f"step {i} {what}")
        # The next step starts from hgc's caches, in JAX too.
        caches = tuple(jnp.asarray(g.view(jnp.bfloat16) if g.dtype == np.uint16
                                   else g) for g in got[1:])
        position = position + 1


@pytest.mark.parametrize("scanned", [True, False])
def test_bf16_as_accurate_as_jax(hgc, tmp_path, scanned):
    """Against the same weights and caches run in f32, hgc's bf16 step is
    off by at most twice what JAX's own bf16 step is."""
    config = jax_decoder.Config(dtype="bf16", scanned=scanned)
    pretty, _, args, step = jax_decoder.export(config)
    program = tmp_path / "step.mlir"
    program.write_text(pretty)
    got = run_step(hgc, program, tmp_path, jax_decoder.flatten(args))
    widened = jax.tree_util.tree_map(
        lambda a: a.astype(np.float32) if a.dtype == jnp.bfloat16 else a,
        args)
    exact = jax.jit(jax_decoder.make_step(
        dataclasses.replace(config, dtype="f32")))(*widened)
    for what, g, w, x in zip(("logits", "cache_k", "cache_v"), got,
                             step(*args), exact):
        x = np.asarray(x, np.float64)
        ours = np.abs(as_float(g) - x).max()
        theirs = np.abs(as_float(jax_decoder.to_npy(w)) - x).max()
        assert ours <= 2 * theirs + 1e-6, f"{what}: {ours} vs JAX {theirs}"


def test_generic_form_matches_jax(hgc, tmp_path):
    """The step printed in the generic form runs the same."""
    config = VARIANTS["scanned_f32"]
    _, generic, args, step = jax_decoder.export(config)
    program = tmp_path / "step.mlir"
    program.write_text(generic)
    got = run_step(hgc, program, tmp_path, jax_decoder.flatten(args))
    for what, g, w in zip(("logits", "cache_k", "cache_v"), got,
                          step(*args)):
        compare(g, w, "f32", what)


def plan_entries(hgc, program):
    result = run(hgc, "plan", program, "--policy", "hgca", "--sink", "4",
                 "--window", "8")
    assert result.returncode == 0, result.stderr
    return [line for line in result.stdout.splitlines()
            if line.startswith("attention '")
            and "runs dense instead" not in line]


@pytest.mark.parametrize("scanned", [True, False])
def test_every_layer_is_raised_and_placed(hgc, tmp_path, scanned):
    """Unrolled: one decode-step attention per layer; scanned: one in the
    scan body, placed once for every layer it runs."""
    config = jax_decoder.Config(scanned=scanned)
    program = tmp_path / "step.mlir"
    program.write_text(jax_decoder.export(config)[0])
    entries = plan_entries(hgc, program)
    assert len(entries) == (1 if scanned else config.layers), entries
    assert all("': decode step, batch 2" in e for e in entries), entries
    assert all(("in a loop body (one placement, every iteration)" in e)
               == scanned for e in entries), entries
    compiled = tmp_path / "step.out.mlir"
    result = run(hgc, "compile", program, "--sink", "4", "--window", "8",
                 "-o", compiled)
    assert result.returncode == 0, result.stderr
    assert "stablehlo." not in compiled.read_text()


@pytest.mark.parametrize("scanned", [True, False])
def test_hybrid_split_in_every_layer(hgc, tmp_path, scanned):
    """Split per placement (4 sinks + 8 recent tokens dense, the rest
    selected on the host): keeping every host token is JAX's step; a sparse
    budget changes every layer's attention, so the logits move."""
    config = jax_decoder.Config(scanned=scanned)
    pretty, _, args, step = jax_decoder.export(config)
    program = tmp_path / "step.mlir"
    program.write_text(pretty)
    arrays = jax_decoder.flatten(args)
    placement = ["--policy", "hgca", "--sink", "4", "--window", "8"]
    want = step(*args)
    got = run_step(hgc, program, tmp_path / "all", arrays, *placement,
                   "--budget", "1.0")
    for what, g, w in zip(("logits", "cache_k", "cache_v"), got, want):
        compare(g, w, "f32", what)
    sparse = run_step(hgc, program, tmp_path / "sparse", arrays, *placement,
                      "--budget", "2")
    assert np.abs(sparse[0] - np.asarray(want[0])).max() > 1e-3
    # The first layer writes its cache before attention reads it: unchanged
    # (later layers' K/V follow the sparser attention before them).
    for g, w in zip(sparse[1:], want[1:]):
        np.testing.assert_allclose(g[0], np.asarray(w)[0], atol=1e-4,
                                   rtol=1e-4)
        assert np.abs(g[1:] - np.asarray(w)[1:]).max() > 1e-4


def test_bad_loop_is_a_located_error(hgc, tmp_path):
    """A while whose body changes the carried shape is refused with its
    location, not compiled."""
    program = tmp_path / "bad.mlir"
    program.write_text("""func.func @main(%a: tensor<4xf32>) -> tensor<4xf32> {
  %0 = stablehlo.while(%iterArg = %a) : tensor<4xf32>
   cond {
    %t = stablehlo.constant dense<true> : tensor<i1>
    stablehlo.return %t : tensor<i1>
  } do {
    %c = stablehlo.concatenate %iterArg, %iterArg, dim = 0 : (tensor<4xf32>, tensor<4xf32>) -> tensor<8xf32>
    stablehlo.return %c : tensor<8xf32>
  }
  return %0 : tensor<4xf32>
}
""")
    np.save(tmp_path / "a.npy", np.ones(4, np.float32))
    result = run(hgc, "run", program, "--input", f"a={tmp_path / 'a.npy'}",
                 "--output-dir", tmp_path / "out")
    expect_error(result, "body returns ('tensor<8xf32>') where "
                 "('tensor<4xf32>') is expected")
    assert "bad.mlir:2:" in result.stderr


@pytest.mark.parametrize("form", ["portable_artifact", "jax_export"])
def test_serialized_artifacts(hgc, tmp_path, monkeypatch, form):
    """jax.export's artifacts (.mlirbc): the portable artifact and the full
    serialization, read through jaxlib in the Python of $HGC_PYTHON, run
    as the text does."""
    import sys
    from jax import export
    config = VARIANTS["scanned_f32"]
    _, _, args, step = jax_decoder.export(config)
    exported = export.export(step)(*args)
    program = tmp_path / "step.mlirbc"
    program.write_bytes(exported.mlir_module_serialized
                        if form == "portable_artifact"
                        else bytes(exported.serialize()))
    monkeypatch.setenv("HGC_PYTHON", sys.executable)
    got = run_step(hgc, program, tmp_path, jax_decoder.flatten(args))
    for what, g, w in zip(("logits", "cache_k", "cache_v"), got,
                          step(*args)):
        compare(g, w, "f32", what)


def test_serialized_artifact_without_jax(hgc, tmp_path, monkeypatch):
    """A Python without jax cannot read bytecode: the error says why and
    how to get text instead."""
    program = tmp_path / "step.mlirbc"
    program.write_bytes(b"ML\xefR not really")
    python = tmp_path / "python-without-jax"
    python.write_text("#!/bin/sh\necho \"ModuleNotFoundError: No module "
                      "named 'jaxlib'\" >&2\nexit 1\n")
    python.chmod(0o755)
    monkeypatch.setenv("HGC_PYTHON", str(python))
    result = run(hgc, "plan", program)
    expect_error(result, "step.mlirbc: could not convert StableHLO bytecode",
                 "No module named 'jaxlib'", "set HGC_PYTHON",
                 ".as_text()")
