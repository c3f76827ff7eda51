"""The sparf placement policy (InstInfer's SparF, after SparQ) and tier
capacities, compiled and run, against an independent float64 implementation
of the seed's algorithm (reference.py: sparq_scores, tier_ranges,
sparf_decode).

sparf scores each KV head's cold tokens on the `channels` channels where
its group's summed |q| is largest (SparQ's scaling per query head, max over
the group), attends the top-budget tokens exactly and folds the rest in as the
tier's mean value weighted by the mass they hold under those scores. With
`host-capacity` the host keeps the oldest cold tokens up to it and a storage
tier the rest, each tier selecting, folding and merging on its own (a
three-way LSE merge). Checked: selected sets and kept mass equal the
reference's; outputs within f32 2e-5 (equal sets, only summation order
differs); keep-all exact within 1e-5 at f32 for sparf and for three-tier
hgca. Random normal inputs.
"""
import numpy as np
import pytest

import reference as ref
from test_hybrid_end_to_end import TOLERANCE, run_step


@pytest.mark.parametrize("budget", ["0.25", "7"])
@pytest.mark.parametrize("heads", [(8, 2), (4, 4)], ids=["gqa", "mha"])
def test_sparf_matches_reference(hgc_runner, tmp_path, heads, budget):
    sink, window, channels = 3, 10, 4
    y, q, keys, vals = run_step(
        hgc_runner, tmp_path, "f32", heads, 80,
        ["--policy=sparf", f"--sink={sink}", f"--window={window}",
         f"--budget={budget}", f"--channels={channels}"], seed=21)
    lengths = [keys.shape[2]] * keys.shape[0]
    parsed = int(budget) if budget.isdigit() else float(budget)
    want, _, alphas = ref.sparf_decode(q, keys, vals, lengths, sink, window,
                                       parsed, channels)
    np.testing.assert_allclose(y, want, atol=2e-5, rtol=2e-5)
    assert all(0 < a < 1 for a in alphas.values())
    exact, _ = ref.partial_attention(q, keys, vals, lengths)
    assert np.abs(y - exact).max() > 1e-4, "a sparse keep should not be exact"


@pytest.mark.parametrize("policy", ["sparf", "hgca"])
def test_three_tiers_match_reference(hgc_runner, tmp_path, policy):
    """host-capacity 30 of 68 cold tokens: host and storage select on their
    own, three partials merge."""
    sink, window, budget, channels, capacity = 3, 10, 5, 4, 30
    y, q, keys, vals = run_step(
        hgc_runner, tmp_path, "f32", (8, 2), 80,
        [f"--policy={policy}", f"--sink={sink}", f"--window={window}",
         f"--budget={budget}", f"--channels={channels}",
         f"--host-capacity={capacity}"], seed=22)
    lengths = [keys.shape[2]] * keys.shape[0]
    if policy == "sparf":
        want, kept, _ = ref.sparf_decode(q, keys, vals, lengths, sink, window,
                                         budget, channels, capacity)
        assert {len(s) for s in kept.values()} == {budget}
    else:
        want = hgca_by_tier(q, keys, vals, lengths, sink, window, budget,
                            capacity)
    np.testing.assert_allclose(y, want, atol=2e-5, rtol=2e-5)


def hgca_by_tier(q, k, v, lengths, sink, window, budget, capacity):
    """HGCA with each cold tier choosing its own exact top-budget: exact
    attention over the hot set and every tier's chosen tokens."""
    batch, q_heads, dim = q.shape
    group = q_heads // k.shape[1]
    scores = ref.select_scores(q, k)
    out = np.zeros((batch, q_heads, v.shape[3]))
    for b in range(batch):
        ranges = ref.tier_ranges(int(lengths[b]), sink, window, [capacity, 0])
        for hk in range(k.shape[1]):
            chosen = list(ranges[0])
            for tokens in ranges[1:]:
                chosen += [tokens[i] for i in ref.top_set(
                    scores[b, hk, tokens], min(budget, len(tokens)))]
            for h in range(hk * group, (hk + 1) * group):
                out[b, h], _ = ref.attend(q[b, h], k[b, hk, chosen],
                                          v[b, hk, chosen])
    return out


@pytest.mark.parametrize("elt", ["f32", "f16", "bf16"])
@pytest.mark.parametrize("policy", ["sparf", "hgca"])
def test_keep_all_is_exact(hgc_runner, tmp_path, elt, policy):
    """Budget 1.0 on host and storage: every token kept, alpha 1, so the
    three-way split is exact (f32 within 1e-5)."""
    y, q, keys, vals = run_step(
        hgc_runner, tmp_path, elt, (8, 2), 99,
        [f"--policy={policy}", "--sink=4", "--window=16", "--budget=1.0",
         "--channels=3", "--host-capacity=25"], seed=23)
    lengths = [keys.shape[2]] * keys.shape[0]
    want, _ = ref.partial_attention(q, keys, vals, lengths)
    tolerance = 1e-5 if elt == "f32" else TOLERANCE[elt]
    np.testing.assert_allclose(y, want, atol=tolerance, rtol=tolerance)


@pytest.mark.parametrize("channels", [1, 5, 16])
def test_selection_and_coverage_equal_reference(hgc_runner, tmp_path,
                                                channels):
    """hgc.select channel_topk by itself over channel-major keys: the kept
    set of each (sequence, KV head) and the share of the mass it holds,
    with per-sequence lengths (37: whole vectors of 8 and a tail);
    channels = head_dim is exact top-k."""
    rng = np.random.default_rng(24)
    b, hq, hkv, t, d, k = 2, 8, 2, 50, 16, 6
    q = rng.standard_normal((b, hq, d)).astype(np.float32)
    keys = rng.standard_normal((b, hkv, t, d)).astype(np.float32)
    lengths = np.array([50, 37], np.int32)
    program = f"""
func.func @main(%q: tensor<{b}x{hq}x{d}xf32>, %k: tensor<{b}x{hkv}x{d}x{t}xf32>,
                %n: tensor<{b}xi32>)
    -> (tensor<{b}x{hkv}x{k}xi32>, tensor<{b}x{hkv}xf32>) {{
  %i, %a = hgc.select channel_topk %q, %k lengths(%n)
      {{k = {k} : i64, channels = {channels} : i64}}
      : (tensor<{b}x{hq}x{d}xf32>, tensor<{b}x{hkv}x{d}x{t}xf32>,
         tensor<{b}xi32>) -> (tensor<{b}x{hkv}x{k}xi32>, tensor<{b}x{hkv}xf32>)
  return %i, %a : tensor<{b}x{hkv}x{k}xi32>, tensor<{b}x{hkv}xf32>
}}"""
    channel_major = np.ascontiguousarray(keys.transpose(0, 1, 3, 2))
    indices, coverage = ref.run_hgc(hgc_runner, tmp_path, program,
                                    [q, channel_major, lengths])
    q64, k64 = q.astype(np.float64), keys.astype(np.float64)
    scores = ref.sparq_scores(q64, k64, channels)
    if channels == d:
        np.testing.assert_allclose(scores, ref.select_scores(q64, k64),
                                   atol=1e-12)
    for bi in range(b):
        n = int(lengths[bi])
        for hk in range(hkv):
            s = scores[bi, hk, :n]
            want = ref.top_set(s, k)
            assert sorted(indices[bi, hk]) == list(want), (bi, hk)
            w = np.exp(s - s.max())
            np.testing.assert_allclose(coverage[bi, hk], w[want].sum() / w.sum(),
                                       rtol=1e-5)


def block_sums(v, block):
    """Per-block sums of v [b, h, t, d] over blocks of `block` tokens from
    token 0 (the last one short): [b, h, ceil(t / block), d] f32."""
    b, h, t, d = v.shape
    blocks = -(-t // block)
    padded = np.zeros((b, h, blocks * block, d))
    padded[:, :, :t] = v
    return padded.reshape(b, h, blocks, block, d).sum(3).astype(np.float32)


def bound_program(b, hq, hk, t, d):
    qt = f"tensor<{b}x{hq}x{d}xf32>"
    kt = f"tensor<{b}x{hk}x{t}x{d}xf32>"
    ct = f"tensor<{b}x{hk}x{d}x{t}xf32>"
    st = f"tensor<{b}x{hk}x{-(-t // 16)}x{d}xf32>"
    return f"""
func.func @main(%q: {qt}, %k: {kt}, %v: {kt}, %c: {ct}, %s: {st}) -> {qt} {{
  %cache = hgc.bind_kv %k, %v channel_keys(%c : {ct}) value_sums(%s : {st})
      {{value_block = 16 : i64}} : {kt}, {kt} -> !hgc.kv_cache<{hk}x{d}xf32>
  %o = hgc.decode_attention %q, %cache : {qt}, !hgc.kv_cache<{hk}x{d}xf32> -> {qt}
  return %o : {qt}
}}"""


@pytest.mark.parametrize("capacity", [0, 70])
def test_sparf_reads_bound_channel_keys_and_value_sums(hgc_runner, tmp_path,
                                                       capacity):
    """An engine's channel-major keys and per-block value sums bound with
    the cache are what selection and the mean read: decoys of other keys
    and values change the output exactly as the reference predicts; the
    engine's true copies give the program's own answer."""
    rng = np.random.default_rng(25)
    b, hq, hk, t, d = 2, 8, 2, 200, 16
    q = rng.standard_normal((b, hq, d)).astype(np.float32)
    k = rng.standard_normal((b, hk, t, d)).astype(np.float32)
    v = rng.standard_normal((b, hk, t, d)).astype(np.float32) + 0.3
    decoy_k = rng.standard_normal((b, hk, t, d)).astype(np.float32)
    decoy_v = rng.standard_normal((b, hk, t, d)).astype(np.float32)
    args = ["--split", "--policy=sparf", "--sink=5", "--window=20",
            "--budget=0.2", "--channels=4", f"--host-capacity={capacity}"]
    q64, k64, v64 = (x.astype(np.float64) for x in (q, k, v))

    def run(keys, values, path):
        channel_major = np.ascontiguousarray(keys.transpose(0, 1, 3, 2))
        (y,) = ref.run_hgc(hgc_runner, path, bound_program(b, hq, hk, t, d),
                           [q, k, v, channel_major, block_sums(values, 16)],
                           args)
        return y

    y = run(decoy_k, decoy_v, tmp_path / "decoy")
    want, _, _ = ref.sparf_decode(
        q64, k64, v64, [t] * b, 5, 20, 0.2, 4, capacity,
        channel_keys=decoy_k.astype(np.float64),
        value_sums=block_sums(decoy_v, 16).astype(np.float64), value_block=16)
    np.testing.assert_allclose(y, want, atol=2e-5, rtol=2e-5)
    own, _, _ = ref.sparf_decode(q64, k64, v64, [t] * b, 5, 20, 0.2, 4,
                                 capacity)
    assert np.abs(want - own).max() > 1e-3, "decoys must matter"
    np.testing.assert_allclose(run(k, v, tmp_path / "own"), own, atol=2e-5,
                               rtol=2e-5)


@pytest.mark.parametrize("policy", ["sparf", "hgca"])
def test_jit_three_tiers_over_runtime_pages(tmp_path, policy):
    """The JIT over pages the KV runtime owns, with host_capacity: positions
    decide the tiers a kernel attends (the oldest 64 cold tokens under the
    host's selection, the rest under storage's), whatever tier holds the
    pages (here a tight host tier spills to a storage file); sparf reads
    the runtime's channel-major keys and page value sums. Equal to the
    float64 references for two sequences decoded together and one alone."""
    import sys
    from conftest import ROOT
    sys.path.insert(0, str(ROOT / "jit" / "python"))
    import hgc_jit
    ctx = hgc_jit.Context(target="host", cache_dir="")
    sink, window, budget, channels, capacity = 4, 24, 5, 8, 64
    config = hgc_jit.AttentionConfig(
        q_heads=8, kv_heads=2, head_dim=32, kv_dtype="f32", policy=policy,
        sink=sink, window=window, budget=str(budget), channels=channels,
        host_capacity=capacity)
    cache = ctx.create_cache(config, layers=1, page_tokens=16, device_pages=8,
                             host_pages=6, storage_dir=str(tmp_path))
    rng = np.random.default_rng(26)
    lengths, exact = [300, 130], {}
    for seq, n in enumerate(lengths):
        cache.add_sequence(seq)
        k = rng.standard_normal((2, n, 32)).astype(np.float32)
        v = rng.standard_normal((2, n, 32)).astype(np.float32) + 0.2
        for first in range(0, n, 50):
            cache.append(seq, 0, k[:, first:first + 50], v[:, first:first + 50])
        exact[seq] = (k.astype(np.float64), v.astype(np.float64))
    kernel = ctx.compile(config)
    queries = rng.standard_normal((2, 8, 32)).astype(np.float32)
    for seqs in ([0, 1], [1]):
        out, _ = cache.decode(kernel, 0, seqs, queries[seqs])
        for row, seq in enumerate(seqs):
            k, v = exact[seq]
            q = queries[seq:seq + 1].astype(np.float64)
            if policy == "sparf":
                want, _, _ = ref.sparf_decode(q, k[None], v[None],
                                              [lengths[seq]], sink, window,
                                              budget, channels, capacity)
            else:
                want = hgca_by_tier(q, k[None], v[None], [lengths[seq]], sink,
                                    window, budget, capacity)
            np.testing.assert_allclose(out[row], want[0], atol=2e-5, rtol=0)
