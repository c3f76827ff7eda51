"""The hca placement policy (HCAttention) compiled and run, against an
independent float64 implementation of the seed's algorithm (reference.py:
quantize_keys, mass_keep, hca_decode).

hca scores each KV head's host tokens from per-token int8 key codes (max
over the group's query heads), keeps the fewest top-scoring ones whose
softmax mass under those scores reaches tau (the budget a cap) and attends
them exactly with the device tier's sinks and window. Checked: the codes the
program computes equal the runtime's quantization bit for bit; the selected
sets equal the reference's; outputs match within f32 2e-5 (the kept sets
are equal, so only summation order differs); keep-all is exact within 1e-5;
codes an engine binds are what selection reads. Random normal inputs.
"""
import subprocess

import numpy as np
import pytest

import reference as ref
from runtime_codes import runtime_codes, runtime_pq
from test_hybrid_end_to_end import TOLERANCE, run_step

def tensor(shape, elt):
    return "tensor<" + "x".join(map(str, shape)) + f"x{elt}>"


@pytest.mark.parametrize("tau", [0.5, 0.9])
@pytest.mark.parametrize("budget", ["0.5", "7"])
@pytest.mark.parametrize("heads", [(8, 2), (4, 4)], ids=["gqa", "mha"])
def test_hca_matches_reference(hgc_runner, tmp_path, heads, budget, tau):
    sink, window = 3, 10
    y, q, keys, vals = run_step(
        hgc_runner, tmp_path, "f32", heads, 80,
        ["--policy=hca", f"--sink={sink}", f"--window={window}",
         f"--budget={budget}", f"--tau={tau}"], seed=11)
    lengths = [keys.shape[2]] * keys.shape[0]
    parsed = int(budget) if budget.isdigit() else float(budget)
    want, _ = ref.hca_decode(q, keys, vals, lengths, sink, window, parsed, tau)
    np.testing.assert_allclose(y, want, atol=2e-5, rtol=2e-5)
    exact, _ = ref.partial_attention(q, keys, vals, lengths)
    assert np.abs(y - exact).max() > 1e-4, "a sparse keep should not be exact"


@pytest.mark.parametrize("elt", ["f32", "f16", "bf16"])
def test_hca_keep_all_is_exact(hgc_runner, tmp_path, elt):
    """Budget 1.0 and tau 1: every host token, so the split is exact (f32
    within 1e-5; f16/bf16 within the output type's rounding)."""
    y, q, keys, vals = run_step(
        hgc_runner, tmp_path, elt, (8, 2), 99,
        ["--policy=hca", "--sink=4", "--window=16", "--budget=1.0",
         "--tau=1.0"], seed=12)
    lengths = [keys.shape[2]] * keys.shape[0]
    want, _ = ref.partial_attention(q, keys, vals, lengths)
    tolerance = 1e-5 if elt == "f32" else TOLERANCE[elt]
    np.testing.assert_allclose(y, want, atol=tolerance, rtol=tolerance)


@pytest.mark.parametrize("elt", ["f32", "f16", "bf16"])
def test_codes_equal_runtime_quantization(hgc_runner, tmp_path, elt):
    """hgc.kv_key_codes computed in the program equal, bit for bit, both
    the reference's float32 arithmetic (largest magnitude to 127, round half
    to even) and the runtime's own codes (hgc_rt_quantize_keys), including
    an all-zero key (scale 0, codes 0) and exact .5 steps."""
    rng = np.random.default_rng(13)
    b, h, t, d, sink, window = 2, 2, 40, 16, 4, 8
    k = rng.standard_normal((b, h, t, d)) * 3
    k[0, 1, 10] = 0.0
    k[1, 0, 20, :4] = [127.0, 0.5, 1.5, -2.5]  # steps of exactly 1, ties
    fed, values = (ref.bf16_bits(k) if elt == "bf16" else
                   (k.astype({"f32": np.float32, "f16": np.float16}[elt]),) * 2)
    values = np.asarray(values, np.float64) if elt != "bf16" else values
    kt = tensor((b, h, t, d), elt)
    codes_t, scales_t = tensor((b, h, "?", d), "i8"), tensor((b, h, "?"), "f32")
    program = f"""
func.func @main(%k: {kt}) -> ({codes_t}, {scales_t}) {{
  %c = hgc.bind_kv %k, %k : {kt}, {kt} -> !hgc.kv_cache<{h}x{d}x{elt}>
  %codes, %scales, %n = hgc.kv_key_codes %c tier host {{placement =
      #hgc.placement<sink = {sink}, window = {window},
                     tiers = [device = dense, host = quant_topk(budget = 2)]>}}
      : !hgc.kv_cache<{h}x{d}x{elt}> -> {codes_t}, {scales_t}, tensor<{b}xi32>
  return %codes, %scales : {codes_t}, {scales_t}
}}"""
    codes, scales = ref.run_hgc(hgc_runner, tmp_path, program, [fed])
    assert codes.dtype == np.int8 and scales.dtype == np.float32
    host = slice(sink, t - window)
    kept_codes, kept_scales = runtime_codes(fed, elt)
    for want_codes, want_scales in [
            ref.quantize_keys(values[:, :, host]),
            (kept_codes[:, :, host], kept_scales[:, :, host])]:
        np.testing.assert_array_equal(codes, want_codes)
        np.testing.assert_array_equal(scales.view(np.uint32),
                                      want_scales.view(np.uint32))
    assert (scales[0, 1, 10 - sink] == 0) and not codes[0, 1, 10 - sink].any()


@pytest.mark.parametrize("tau", [0.3, 0.8, 0.95])
@pytest.mark.parametrize("budget", [{"k": 24}, {"fraction": 0.5}],
                         ids=["count", "fraction"])
def test_selected_sets_equal_reference(hgc_runner, tmp_path, tau, budget):
    """hgc.select quant_topk with a mass: per (sequence, KV head) exactly
    the reference's set, -1 after it; sequences of different lengths."""
    rng = np.random.default_rng(int(tau * 100))
    b, hq, hk, t, d = 2, 8, 2, 120, 32
    q = rng.standard_normal((b, hq, d)).astype(np.float32)
    # Keys with a few outlier channels and a spread of norms, as real
    # attention has: the mass is neither uniform nor on one token.
    k = rng.standard_normal((b, hk, t, d)) * rng.uniform(0.5, 2.5, (b, hk, t, 1))
    k[..., :3] *= 4
    codes, scales = ref.quantize_keys(k)
    lengths = np.array([t, 77], np.int32)
    attr = (f"k = {budget['k']} : i64" if "k" in budget
            else f"fraction = {budget['fraction']} : f64")
    width = str(budget["k"]) if "k" in budget else "?"
    qt, ct, st = tensor((b, hq, d), "f32"), tensor((b, hk, t, d), "i8"), \
        tensor((b, hk, t), "f32")
    out = tensor((b, hk, width), "i32")
    program = f"""
func.func @main(%q: {qt}, %c: {ct}, %s: {st}, %n: tensor<{b}xi32>) -> {out} {{
  %i = hgc.select quant_topk %q, %c, %s lengths(%n) {{{attr}, mass = {tau} : f64}}
      : ({qt}, {ct}, {st}, tensor<{b}xi32>) -> {out}
  return %i : {out}
}}"""
    (indices,) = ref.run_hgc(hgc_runner, tmp_path, program,
                             [q, codes, scales, lengths])
    approx = codes.astype(np.float64) * scales.astype(np.float64)[..., None]
    scores = ref.select_scores(q.astype(np.float64), approx)
    kept_fewer = False
    for bi in range(b):
        n = int(lengths[bi])
        cap = budget["k"] if "k" in budget else int(np.ceil(
            budget["fraction"] * n))
        cap = min(cap, n)
        for h in range(hk):
            keep = min(cap, ref.mass_keep(scores[bi, h, :n], tau))
            want = ref.top_set(scores[bi, h, :n], keep)
            row = indices[bi, h]
            np.testing.assert_array_equal(np.sort(row[row >= 0]), want)
            assert (row[len(want):] == -1).all()
            kept_fewer |= keep < cap
    assert kept_fewer or tau > 0.9, "the mass rule should bind somewhere"


def test_mass_keeps_one_needle(hgc_runner, tmp_path):
    """A retrieval needle holding nearly all the mass: tau 0.9 keeps it
    alone though the budget allows 20; the output equals exact attention
    over the hot set and the needle."""
    rng = np.random.default_rng(14)
    b, hq, hk, t, d, sink, window = 1, 4, 1, 200, 32, 4, 16
    q = rng.standard_normal((b, hq, d)).astype(np.float32)
    k = (rng.standard_normal((b, hk, t, d)) * 0.1).astype(np.float32)
    needle = 100
    k[0, 0, needle] = q[0].mean(0) * 6
    v = rng.standard_normal((b, hk, t, d)).astype(np.float32)
    qt, kt = tensor((b, hq, d), "f32"), tensor((b, hk, t, d), "f32")
    program = f"""
func.func @main(%q: {qt}, %k: {kt}, %v: {kt}) -> {qt} {{
  %c = hgc.bind_kv %k, %v : {kt}, {kt} -> !hgc.kv_cache<{hk}x{d}xf32>
  %o = hgc.decode_attention %q, %c : {qt}, !hgc.kv_cache<{hk}x{d}xf32> -> {qt}
  return %o : {qt}
}}"""
    args = ["--split", "--policy=hca", f"--sink={sink}", f"--window={window}",
            "--budget=20", "--tau=0.9"]
    (y,) = ref.run_hgc(hgc_runner, tmp_path, program, [q, k, v], args)
    q64, k64, v64 = (x.astype(np.float64) for x in (q, k, v))
    want, kept = ref.hca_decode(q64, k64, v64, [t], sink, window, 20, 0.9)
    assert kept[(0, 0)] == [needle]
    np.testing.assert_allclose(y, want, atol=2e-5, rtol=2e-5)


def test_hca_reads_bound_codes(hgc_runner, tmp_path):
    """Codes bound with the cache (an engine's, per token from token 0) are
    what selection reads: codes of other keys select other tokens, exactly
    as the reference selects from them."""
    rng = np.random.default_rng(15)
    b, hq, hk, t, d = 2, 8, 2, 200, 16
    q = rng.standard_normal((b, hq, d)).astype(np.float32)
    k = rng.standard_normal((b, hk, t, d)).astype(np.float32)
    v = rng.standard_normal((b, hk, t, d)).astype(np.float32)
    decoy = ref.quantize_keys(rng.standard_normal((b, hk, t, d)))
    qt, kt = tensor((b, hq, d), "f32"), tensor((b, hk, t, d), "f32")
    ct, st = tensor((b, hk, t, d), "i8"), tensor((b, hk, t), "f32")
    program = f"""
func.func @main(%q: {qt}, %k: {kt}, %v: {kt}, %c: {ct}, %s: {st}) -> {qt} {{
  %cache = hgc.bind_kv %k, %v codes(%c, %s : {ct}, {st})
      : {kt}, {kt} -> !hgc.kv_cache<{hk}x{d}xf32>
  %o = hgc.decode_attention %q, %cache : {qt}, !hgc.kv_cache<{hk}x{d}xf32> -> {qt}
  return %o : {qt}
}}"""
    args = ["--split", "--policy=hca", "--sink=16", "--window=32",
            "--budget=0.3", "--tau=0.8"]
    (y,) = ref.run_hgc(hgc_runner, tmp_path, program,
                       [q, k, v, decoy[0], decoy[1]], args)
    q64, k64, v64 = (x.astype(np.float64) for x in (q, k, v))
    want, _ = ref.hca_decode(q64, k64, v64, [t] * b, 16, 32, 0.3, 0.8,
                             codes=decoy)
    np.testing.assert_allclose(y, want, atol=2e-5, rtol=2e-5)
    own, _ = ref.hca_decode(q64, k64, v64, [t] * b, 16, 32, 0.3, 0.8)
    assert np.abs(want - own).max() > 1e-4, "decoy codes must matter"


@pytest.mark.parametrize("centroids", [16, 512])
@pytest.mark.parametrize("tau", [0.6, 1.0])
def test_pq_selected_sets_equal_reference(hgc_runner, tmp_path, centroids,
                                          tau):
    """hgc.select pq_topk: a token scores the sum over sub-spaces of the
    query's sub-vector dotted with its code's centroid (max over the group);
    the kept set equals the float64 reference's over the reconstructed
    keys. Codes of more than 256 centroids are i16, read unsigned."""
    rng = np.random.default_rng(centroids)
    b, hq, hk, t, d, groups = 2, 8, 2, 300, 32, 8
    q = rng.standard_normal((b, hq, d)).astype(np.float32)
    k = rng.standard_normal((b, hk, t, d)) * rng.uniform(0.5, 2, (b, hk, t, 1))
    codes, books = runtime_pq(k, groups, centroids)
    # The runtime's codes are each key's nearest centroids.
    approx = ref.pq_reconstruct(codes.view(np.uint16 if centroids > 256
                                           else np.uint8), books)
    w = d // groups
    for g in range(groups):
        part = k[0, 0, :, g * w:(g + 1) * w]
        distances = ((part[:, None] - books[0, 0, g][None]) ** 2).sum(-1)
        np.testing.assert_allclose(
            distances[np.arange(t), codes.view(np.uint16 if centroids > 256
                                               else np.uint8)[0, 0, :, g]],
            distances.min(1), rtol=1e-5, atol=1e-5)
    ct = tensor((b, hk, t, groups), "i16" if centroids > 256 else "i8")
    bt = tensor((b, hk, groups, centroids, w), "f32")
    qt, out = tensor((b, hq, d), "f32"), tensor((b, hk, 40), "i32")
    mass = f", mass = {tau} : f64" if tau < 1 else ""
    program = f"""
func.func @main(%q: {qt}, %c: {ct}, %b: {bt}) -> {out} {{
  %i = hgc.select pq_topk %q, %c, %b {{k = 40 : i64{mass}}}
      : ({qt}, {ct}, {bt}) -> {out}
  return %i : {out}
}}"""
    (indices,) = ref.run_hgc(hgc_runner, tmp_path, program, [q, codes, books])
    scores = ref.select_scores(q.astype(np.float64), approx)
    for bi in range(b):
        for h in range(hk):
            keep = 40 if tau >= 1 else min(40, ref.mass_keep(scores[bi, h], tau))
            want = ref.top_set(scores[bi, h], keep)
            row = indices[bi, h]
            np.testing.assert_array_equal(np.sort(row[row >= 0]), want)


def test_hca_pq_end_to_end(hgc_runner, tmp_path):
    """--codebook pq8x32: the host tier reads the product-quantized codes
    and codebooks bound with the cache; the output equals HCAttention's
    float64 reference over the reconstructed keys. Without bound codes the
    program is a one-line error naming what to bind."""
    rng = np.random.default_rng(31)
    b, hq, hk, t, d = 1, 8, 2, 400, 16
    q = rng.standard_normal((b, hq, d)).astype(np.float32)
    k = rng.standard_normal((b, hk, t, d)).astype(np.float32)
    v = rng.standard_normal((b, hk, t, d)).astype(np.float32)
    codes, books = runtime_pq(k, 8, 32)
    qt, kt = tensor((b, hq, d), "f32"), tensor((b, hk, t, d), "f32")
    ct, bt = tensor((b, hk, t, 8), "i8"), tensor((b, hk, 8, 32, 2), "f32")
    cache = f"!hgc.kv_cache<{hk}x{d}xf32>"
    program = f"""
func.func @main(%q: {qt}, %k: {kt}, %v: {kt}, %c: {ct}, %b: {bt}) -> {qt} {{
  %cache = hgc.bind_kv %k, %v pq(%c, %b : {ct}, {bt}) : {kt}, {kt} -> {cache}
  %o = hgc.decode_attention %q, %cache : {qt}, {cache} -> {qt}
  return %o : {qt}
}}"""
    args = ["--split", "--policy=hca", "--codebook=pq8x32", "--sink=4",
            "--window=32", "--budget=0.2", "--tau=0.9"]
    (y,) = ref.run_hgc(hgc_runner, tmp_path, program, [q, k, v, codes, books],
                       args)
    approx = ref.pq_reconstruct(codes.view(np.uint8), books)
    q64, k64, v64 = (x.astype(np.float64) for x in (q, k, v))
    want, _ = ref.hca_decode(q64, k64, v64, [t], 4, 32, 0.2, 0.9,
                             approx=approx)
    np.testing.assert_allclose(y, want, atol=2e-5, rtol=2e-5)

    unbound = f"""
func.func @main(%q: {qt}, %k: {kt}, %v: {kt}) -> {qt} {{
  %cache = hgc.bind_kv %k, %v : {kt}, {kt} -> {cache}
  %o = hgc.decode_attention %q, %cache : {qt}, {cache} -> {qt}
  return %o : {qt}
}}"""
    (tmp_path / "u.mlir").write_text(unbound)
    np.save(tmp_path / "q.npy", q)
    np.save(tmp_path / "k.npy", k)
    result = subprocess.run(
        [str(hgc_runner), str(tmp_path / "u.mlir"), "--output-dir",
         str(tmp_path / "u"), f"--input=arg0={tmp_path / 'q.npy'}",
         f"--input=arg1={tmp_path / 'k.npy'}",
         f"--input=arg2={tmp_path / 'k.npy'}"] + args,
        capture_output=True, text=True)
    assert result.returncode != 0
    assert "needs product-quantized codes bound with the cache" in result.stderr
