"""Model-level decode attention, bound, placed, split, lowered and run.

An ONNX-semantics hgc.attention step (past ++ current KV) goes through the
hgc-hybrid-pipeline (bind, place, split) and the host pipeline in hgc-runner,
and is compared with float64 numpy: `full` and an HGCA placement whose budget
keeps every host token must equal exact attention (the split is exact); a
sparse HGCA budget must equal the HGCA reference (hot set dense + per-KV-head
top-k of the host tokens). Random normal inputs; tolerances per output type:
f32 atol 2e-5, f16 2e-3, bf16 1.5e-2 (the output is rounded to that type).
"""
import numpy as np
import pytest

import reference as ref

TOLERANCE = {"f32": 2e-5, "f16": 2e-3, "bf16": 1.5e-2}
NUMPY_TYPE = {"f32": np.float32, "f16": np.float16}


def attention_program(b, hq, hkv, past, d, elt, nonpad=False):
    def t(*shape):
        return "tensor<" + "x".join(map(str, shape)) + f"x{elt}>"
    q, kv, pkv = t(b, hq, 1, d), t(b, hkv, 1, d), t(b, hkv, past, d)
    if nonpad:
        full = t(b, hkv, past + 1, d)
        return f"""
func.func @main(%q: {q}, %k: {full}, %v: {full}, %n: tensor<{b}xi64>) -> {q} {{
  %y = hgc.attention %q, %k, %v nonpad_kv_seqlen(%n : tensor<{b}xi64>)
      : {q}, {full}, {full} -> {q}
  return %y : {q}
}}"""
    return f"""
func.func @main(%q: {q}, %k: {kv}, %v: {kv}, %pk: {pkv}, %pv: {pkv}) -> {q} {{
  %y, %pk2, %pv2 = hgc.attention %q, %k, %v past(%pk, %pv : {pkv}, {pkv})
      {{is_causal = true}} : {q}, {kv}, {kv} -> {q}
      present({t(b, hkv, past + 1, d)}, {t(b, hkv, past + 1, d)})
  return %y : {q}
}}"""


def encode(x, elt):
    """(array fed to hgc, float64 values hgc reads)."""
    if elt == "bf16":
        return ref.bf16_bits(x)
    array = np.asarray(x).astype(NUMPY_TYPE[elt])
    return array, array.astype(np.float64)


def decode_output(y, elt):
    return ref.bf16_to_float(y) if elt == "bf16" else y.astype(np.float64)


def run_step(runner, tmp_path, elt, heads, past, policy_args, seed, b=2, d=16):
    """One random decode step through hgc-runner --split `policy_args`:
    (output, query, keys, values) as float64, batch-major, no query axis."""
    rng = np.random.default_rng(seed)
    hq, hkv = heads
    arrays = [rng.standard_normal(shape) for shape in (
        (b, hq, 1, d), (b, hkv, 1, d), (b, hkv, 1, d), (b, hkv, past, d),
        (b, hkv, past, d))]
    fed, values = zip(*(encode(x, elt) for x in arrays))
    (y,) = ref.run_hgc(runner, tmp_path,
                       attention_program(b, hq, hkv, past, d, elt), list(fed),
                       ["--split"] + policy_args)
    q, k, v, pk, pv = values
    keys = np.concatenate([pk, k], axis=2)
    vals = np.concatenate([pv, v], axis=2)
    return decode_output(y, elt)[:, :, 0], q[:, :, 0], keys, vals


@pytest.mark.parametrize("elt", ["f32", "f16", "bf16"])
@pytest.mark.parametrize("policy_args", [
    ["--policy=full"],
    ["--policy=hgca", "--sink=4", "--window=16", "--budget=1.0"],
], ids=["full", "hgca-keep-all"])
def test_split_is_exact(hgc_runner, tmp_path, elt, policy_args):
    y, q, keys, vals = run_step(hgc_runner, tmp_path, elt, (8, 2), 99,
                                policy_args, seed=1)
    lengths = [keys.shape[2]] * keys.shape[0]
    want, _ = ref.partial_attention(q, keys, vals, lengths)
    np.testing.assert_allclose(y, want, atol=TOLERANCE[elt], rtol=TOLERANCE[elt])


@pytest.mark.parametrize("budget", ["0.25", "7"])
@pytest.mark.parametrize("heads", [(8, 2), (4, 4)], ids=["gqa", "mha"])
def test_sparse_hgca_matches_reference(hgc_runner, tmp_path, budget, heads):
    sink, window = 3, 10
    y, q, keys, vals = run_step(
        hgc_runner, tmp_path, "f32", heads, 80,
        ["--policy=hgca", f"--sink={sink}", f"--window={window}",
         f"--budget={budget}"], seed=2)
    lengths = [keys.shape[2]] * keys.shape[0]
    parsed = int(budget) if budget.isdigit() else float(budget)
    want = ref.hybrid_decode(q, keys, vals, lengths, sink, window, parsed)
    np.testing.assert_allclose(y, want, atol=2e-5, rtol=2e-5)
    exact, _ = ref.partial_attention(q, keys, vals, lengths)
    assert np.abs(y - exact).max() > 1e-4, "a sparse budget should not be exact"


@pytest.mark.parametrize("budget", ["0.25", "20"])
@pytest.mark.parametrize("heads", [(8, 2), (4, 4)], ids=["gqa", "mha"])
def test_quest_matches_reference(hgc_runner, tmp_path, budget, heads):
    """Host blocks of 8 scored from key min/max summaries computed in the
    program (the host tier starts at sink 3, not on a block boundary; its
    last block is short); a count budget of 20 tokens is 3 blocks."""
    sink, window, block = 3, 10, 8
    y, q, keys, vals = run_step(
        hgc_runner, tmp_path, "f32", heads, 80,
        ["--policy=quest", f"--sink={sink}", f"--window={window}",
         f"--budget={budget}", f"--block={block}"], seed=4)
    lengths = [keys.shape[2]] * keys.shape[0]
    parsed = int(budget) if budget.isdigit() else float(budget)
    want = ref.hybrid_decode(q, keys, vals, lengths, sink, window, parsed,
                             block=block)
    np.testing.assert_allclose(y, want, atol=2e-5, rtol=2e-5)
    exact, _ = ref.partial_attention(q, keys, vals, lengths)
    assert np.abs(y - exact).max() > 1e-4, "a sparse budget should not be exact"


@pytest.mark.parametrize("elt", ["f32", "f16"])
def test_quest_keep_all_is_exact(hgc_runner, tmp_path, elt):
    y, q, keys, vals = run_step(
        hgc_runner, tmp_path, elt, (8, 2), 99,
        ["--policy=quest", "--sink=4", "--window=16", "--budget=1.0",
         "--block=16"], seed=5)
    lengths = [keys.shape[2]] * keys.shape[0]
    want, _ = ref.partial_attention(q, keys, vals, lengths)
    np.testing.assert_allclose(y, want, atol=TOLERANCE[elt], rtol=TOLERANCE[elt])


def test_quest_reads_bound_summaries(hgc_runner, tmp_path):
    """Summaries bound with the cache (an engine's, kept per block from
    token 0) are what block selection reads when the host tier starts on a
    block boundary: summaries of other keys select other blocks, exactly as
    the reference selects from them."""
    rng = np.random.default_rng(6)
    b, hq, hkv, t, d, block = 2, 8, 2, 200, 16, 16
    q = rng.standard_normal((b, hq, d)).astype(np.float32)
    k = rng.standard_normal((b, hkv, t, d)).astype(np.float32)
    v = rng.standard_normal((b, hkv, t, d)).astype(np.float32)
    decoy = rng.standard_normal((b, hkv, t, d)).astype(np.float32)
    lo, hi = ref.block_summaries(decoy, block)
    blocks = lo.shape[2]
    f = lambda *s: "tensor<" + "x".join(map(str, s)) + "xf32>"
    qt, kt, st = f(b, hq, d), f(b, hkv, t, d), f(b, hkv, blocks, d)
    program = f"""
func.func @main(%q: {qt}, %k: {kt}, %v: {kt}, %lo: {st}, %hi: {st}) -> {qt} {{
  %c = hgc.bind_kv %k, %v summaries(%lo, %hi : {st}, {st})
      {{summary_block = {block} : i64}} : {kt}, {kt} -> !hgc.kv_cache<{hkv}x{d}xf32>
  %o = hgc.decode_attention %q, %c : {qt}, !hgc.kv_cache<{hkv}x{d}xf32> -> {qt}
  return %o : {qt}
}}"""
    args = ["--split", "--policy=quest", "--sink=16", "--window=32",
            "--budget=0.3", f"--block={block}"]
    (y,) = ref.run_hgc(hgc_runner, tmp_path, program, [q, k, v, lo, hi], args)
    q64, k64, v64 = (x.astype(np.float64) for x in (q, k, v))
    want = ref.hybrid_decode(q64, k64, v64, [t] * b, 16, 32, 0.3, block=block,
                             summaries=(lo.astype(np.float64),
                                        hi.astype(np.float64)))
    np.testing.assert_allclose(y, want, atol=2e-5, rtol=2e-5)
    own = ref.hybrid_decode(q64, k64, v64, [t] * b, 16, 32, 0.3, block=block)
    assert np.abs(want - own).max() > 1e-4, "decoy summaries must matter"


def test_nonpad_lengths_per_sequence(hgc_runner, tmp_path):
    """Sequences of different lengths in one batch (opset-24 nonpad)."""
    rng = np.random.default_rng(3)
    b, hq, hkv, t, d = 2, 8, 2, 60, 16
    q = rng.standard_normal((b, hq, 1, d)).astype(np.float32)
    k = rng.standard_normal((b, hkv, t, d)).astype(np.float32)
    v = rng.standard_normal((b, hkv, t, d)).astype(np.float32)
    lengths = np.array([60, 23], np.int64)
    program = attention_program(b, hq, hkv, t - 1, d, "f32", nonpad=True)
    (y,) = ref.run_hgc(hgc_runner, tmp_path, program, [q, k, v, lengths],
                       ["--split", "--policy=hgca", "--sink=2",
                        "--window=8", "--budget=0.5"])
    want = ref.hybrid_decode(q[:, :, 0].astype(np.float64),
                             k.astype(np.float64), v.astype(np.float64),
                             lengths, 2, 8, 0.5)
    np.testing.assert_allclose(y[:, :, 0], want, atol=2e-5, rtol=2e-5)
