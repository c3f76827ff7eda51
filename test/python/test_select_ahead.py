"""Layer-ahead selection in the JIT (hgc_select_ahead, hgc_decode_selected):
ScoutAttention's host tier chooses a later step's candidates from a
predicted query, and the step attends them with the real one. Checked
against float64: candidates from the predicted query's scores (exact for
hgca, Quest block bounds for quest), attention with the real query over the
sinks, the window and those candidates; a predicted query equal to the real
one is the step itself. Random normal KV and queries; f16 KV, outputs within
5e-5.
"""
import sys

import numpy as np
import pytest

from conftest import ROOT
from test_jit import hot_tokens, make_cache

sys.path.insert(0, str(ROOT / "jit" / "python"))
import hgc_jit  # noqa: E402

SINK, WINDOW, PAGE = 4, 48, 16
LENGTHS = [300, 17, 229]


def config_for(policy, budget):
    return hgc_jit.AttentionConfig(q_heads=8, kv_heads=2, head_dim=64,
                                   kv_dtype="f16", policy=policy, sink=SINK,
                                   window=WINDOW, budget=budget, block=PAGE)


def host_units(host, block):
    return [host[i:i + block] for i in range(0, len(host), block)]


def choose(p, k, n, policy, budget, block, sink=SINK, window=WINDOW):
    """Per KV head, the indices of the host tier's units (tokens for hgca,
    blocks for quest) the predicted query `p` [H, D] ranks first."""
    heads, kv_heads = p.shape[0], k.shape[0]
    group = heads // kv_heads
    host = [t for t in range(n) if t not in set(hot_tokens(n, sink, window))]
    units = host_units(host, block)
    chosen = []
    for hk in range(kv_heads):
        pg = p[hk * group:(hk + 1) * group]
        if policy == "hgca":
            scores = (pg @ k[hk, host].T).max(0)
        else:
            scores = np.array([np.maximum(pg * k[hk, u].min(0),
                                          pg * k[hk, u].max(0)).sum(1).max()
                               for u in units])
        count = int(np.ceil(float(budget) * len(units)))
        chosen.append(sorted(np.argsort(-scores, kind="stable")[:count]))
    return chosen


def attend(q, k, v, n, chosen, block):
    """The real query over the hot tokens of `n` and the chosen units of
    the host tier as it is at `n` (a unit past its end is clipped)."""
    heads, kv_heads = q.shape[0], k.shape[0]
    group = heads // kv_heads
    hot = hot_tokens(n, SINK, WINDOW)
    host = [t for t in range(n) if t not in set(hot)]
    out = np.zeros(q.shape)
    for h in range(heads):
        tokens = sorted(set(hot) | {t for i in chosen[h // group]
                                    for t in host[i * block:(i + 1) * block]})
        s = k[h // group, tokens] @ q[h] / np.sqrt(q.shape[1])
        w = np.exp(s - s.max())
        out[h] = w @ v[h // group, tokens] / w.sum()
    return out


@pytest.fixture(scope="module")
def ctx():
    return hgc_jit.Context(target="host", cache_dir="")


@pytest.mark.parametrize("policy,budget", [("hgca", "0.25"), ("quest", "0.3"),
                                           ("scout", "0.3"), ("hca", "0.5")])
def test_selecting_with_the_real_query_is_the_step(ctx, policy, budget):
    config = config_for(policy, budget)
    cache, _ = make_cache(ctx, config, LENGTHS)
    kernel = ctx.compile(config)
    q = np.random.default_rng(1).standard_normal((3, 8, 64)).astype(
        np.float32)
    want, _ = cache.decode(kernel, 1, [0, 1, 2], q)
    selection = cache.select_ahead(kernel, 1, [0, 1, 2], q)
    got, stats = cache.decode_selected(kernel, selection, q)
    np.testing.assert_allclose(got, want, atol=1e-6, rtol=0)
    valid = selection.candidates >= 0
    assert stats.selected_tokens == selection.block * valid.sum() > 0


@pytest.mark.parametrize("policy,budget", [("hgca", "0.25"), ("quest", "0.3")])
def test_candidates_of_a_predicted_query(ctx, policy, budget):
    config = config_for(policy, budget)
    cache, exact = make_cache(ctx, config, LENGTHS)
    kernel = ctx.compile(config)
    rng = np.random.default_rng(2)
    q = rng.standard_normal((3, 8, 64)).astype(np.float32)
    p = rng.standard_normal((3, 8, 64)).astype(np.float32)
    selection = cache.select_ahead(kernel, 1, [0, 1, 2], p)
    block = PAGE if policy == "quest" else 1
    assert selection.block == block
    got, _ = cache.decode_selected(kernel, selection, q)
    for seq, n in enumerate(LENGTHS):
        k, v = exact[seq, 1]
        chosen = choose(p[seq].astype(np.float64), k, n, policy, budget,
                        block)
        for hk in range(2):
            row = selection.candidates[seq, hk]
            assert sorted(row[row >= 0]) == chosen[hk]
        want = attend(q[seq].astype(np.float64), k, v, n, chosen, block)
        np.testing.assert_allclose(got[seq], want, atol=5e-5, rtol=0)
    # Another query's candidates are not the step's own.
    step, _ = cache.decode(kernel, 1, [0, 1, 2], q)
    assert np.abs(step - got).max() > 1e-3


def test_kv_appended_after_the_selection(ctx):
    """ScoutAttention selects layer l+1 before its KV for the step exists:
    the step's token is appended in between and attended on the device
    tier; the token the window lets go joins the host tier and is attended
    beside the selection's candidates (a selection made now could keep it)."""
    config = config_for("hgca", "0.25")
    cache, exact = make_cache(ctx, config, LENGTHS, layers=1)
    kernel = ctx.compile(config)
    rng = np.random.default_rng(3)
    q = rng.standard_normal((3, 8, 64)).astype(np.float32)
    p = rng.standard_normal((3, 8, 64)).astype(np.float32)
    selection = cache.select_ahead(kernel, 0, [0, 1, 2], p)
    grown = {}
    for seq, n in enumerate(LENGTHS):
        raw = rng.standard_normal((2, 2, 1, 64)).astype(np.float16)
        cache.append(seq, 0, raw[0], raw[1])
        k, v = exact[seq, 0]
        grown[seq] = (np.concatenate([k, raw[0].astype(np.float64)], 1),
                      np.concatenate([v, raw[1].astype(np.float64)], 1))
    got, _ = cache.decode_selected(kernel, selection, q)
    for seq, n in enumerate(LENGTHS):
        k, v = grown[seq]
        chosen = choose(p[seq].astype(np.float64), k[:, :n], n, "hgca",
                        "0.25", 1)
        arrived = len(host_tokens(n + 1)) - 1  # the token the window let go
        if arrived >= 0 and n + 1 > SINK + WINDOW:
            chosen = [sorted(set(c) | {arrived}) for c in chosen]
        want = attend(q[seq].astype(np.float64), k, v, n + 1, chosen, 1)
        np.testing.assert_allclose(got[seq], want, atol=5e-5, rtol=0)


@pytest.mark.parametrize("policy", ["hgca", "quest"])
def test_keep_all_selected_ahead_is_exact(ctx, policy):
    """At full budget a selection made before the step's token was appended
    still attends every token: the step equals exact attention."""
    config = config_for(policy, "1.0")
    cache, exact = make_cache(ctx, config, LENGTHS, layers=1)
    kernel = ctx.compile(config)
    rng = np.random.default_rng(4)
    q = rng.standard_normal((3, 8, 64)).astype(np.float32)
    selection = cache.select_ahead(kernel, 0, [0, 1, 2], q)
    for seq in range(3):
        raw = rng.standard_normal((2, 2, 1, 64)).astype(np.float16)
        cache.append(seq, 0, raw[0], raw[1])
        k, v = exact[seq, 0]
        exact[seq, 0] = (np.concatenate([k, raw[0].astype(np.float64)], 1),
                         np.concatenate([v, raw[1].astype(np.float64)], 1))
    got, _ = cache.decode_selected(kernel, selection, q)
    for seq, n in enumerate(LENGTHS):
        k, v = exact[seq, 0]
        everything = [list(range(len(host_tokens(n + 1))))] * 2
        want = attend(q[seq].astype(np.float64), k, v, n + 1, everything, 1)
        np.testing.assert_allclose(got[seq], want, atol=5e-5, rtol=0)


def host_tokens(n):
    return [t for t in range(n) if t not in set(hot_tokens(n, SINK, WINDOW))]


def test_bad_uses_are_one_line_errors(ctx):
    config = config_for("hgca", "0.25")
    cache, _ = make_cache(ctx, config, LENGTHS, layers=1)
    kernel = ctx.compile(config)
    q = np.ones((3, 8, 64), np.float32)
    with pytest.raises(hgc_jit.Error,
                       match="selection ahead needs a kernel for an "
                       "hgc_kv_cache whose placement has two tiers"):
        cache.select_ahead(ctx.compile(hgc_jit.AttentionConfig(
            q_heads=8, kv_heads=2, head_dim=64, kv_dtype="f16",
            policy="sparf", sink=SINK, window=WINDOW, channels=8)),
            0, [0, 1, 2], q)
    with pytest.raises(hgc_jit.Error, match="layer 3 is not in"):
        cache.select_ahead(kernel, 3, [0, 1, 2], q)
    with pytest.raises(hgc_jit.Error, match="do not fit"):
        cache.select_ahead(kernel, 0, [0, 1], q)
    selection = cache.select_ahead(kernel, 0, [0, 1, 2], q)
    other = ctx.compile(config_for("hgca", "0.5"))
    with pytest.raises(hgc_jit.Error, match="made with another kernel"):
        cache.decode_selected(other, selection, q)
    cache.release_sequence(2)
    cache.add_sequence(2)
    cache.append(2, 0, np.ones((2, 100, 64), np.float16),
                 np.ones((2, 100, 64), np.float16))
    with pytest.raises(hgc_jit.Error,
                       match="sequence 2 has 100 tokens in layer 0, fewer "
                       "than the 229 its selection was made over"):
        cache.decode_selected(kernel, selection, q)
