"""Periodic recall (ScoutAttention) in the JIT: a cache made with
recall_period and recall_blocks measures, every period-th step over a
selection made ahead, each cold page's share of the host tier's softmax mass
(with the step's real queries, over the tokens it attended), keeps it
decayed by half per period, recalls the hottest pages to the device tier and
demotes those that cooled; every step attends the recalled pages whole
beside its candidates. Checked against float64: the recalled pages are the
reference's hottest, the outputs are exact attention over the sinks, the
window, the recalled pages and the candidates, and every token reads back
bit-exactly after recalls and demotions. f16 KV; outputs within 5e-5.
"""
import sys

import numpy as np
import pytest

from conftest import ROOT
from test_jit import hot_tokens, to_numpy_kv
from test_select_ahead import choose

sys.path.insert(0, str(ROOT / "jit" / "python"))
import hgc_jit  # noqa: E402

SINK, WINDOW, PAGE = 16, 48, 16
# Host tiers end on page boundaries: quest then reads the runtime's page
# summaries of exactly the host's blocks (a page the window cuts is
# summarized whole, tokens of the window included).
LENGTHS = [304, 240]


def config_for(policy="hgca", budget="0.1", block=PAGE):
    return hgc_jit.AttentionConfig(q_heads=8, kv_heads=2, head_dim=64,
                                   kv_dtype="f16", policy=policy, sink=SINK,
                                   window=WINDOW, budget=budget, block=block)


def make(ctx, config, **options):
    rng = np.random.default_rng(4)
    cache = ctx.create_cache(config, layers=1, page_tokens=PAGE, **options)
    stored, exact = {}, {}
    for seq, n in enumerate(LENGTHS):
        cache.add_sequence(seq)
        raw = rng.standard_normal((2, 2, n, 64))
        k, k64 = to_numpy_kv(raw[0], "f16")
        v, v64 = to_numpy_kv(raw[1], "f16")
        cache.append(seq, 0, k, v)
        stored[seq], exact[seq] = (k, v), (k64, v64)
    return cache, stored, exact


def host_tokens(n):
    return [t for t in range(n) if t not in set(hot_tokens(n, SINK, WINDOW))]


def unit_tokens(n, units, block):
    host = host_tokens(n)
    return {t for u in units for t in host[u * block:(u + 1) * block]}


def attend(q, k, v, tokens):
    out = np.zeros(q.shape)
    group = q.shape[0] // k.shape[0]
    for h in range(q.shape[0]):
        t = sorted(tokens[h // group])
        s = k[h // group, t] @ q[h] / np.sqrt(q.shape[1])
        w = np.exp(s - s.max())
        out[h] = w @ v[h // group, t] / w.sum()
    return out


def page_mass(q, k, n, tokens):
    """Per page, the host partial's softmax mass of `tokens` (per KV head)
    averaged over query heads."""
    mass = np.zeros(-(-n // PAGE))
    group = q.shape[0] // k.shape[0]
    for h in range(q.shape[0]):
        t = np.array(sorted(tokens[h // group]))
        s = k[h // group, t] @ q[h] / np.sqrt(q.shape[1])
        w = np.exp(s - s.max())
        np.add.at(mass, t // PAGE, w / w.sum() / q.shape[0])
    return mass


def hottest(mass, n, count):
    cold = [p for p in range(len(mass)) if p * PAGE >= SINK and
            (p + 1) * PAGE <= n - WINDOW and mass[p] > 0]
    return sorted(sorted(cold, key=lambda p: (-mass[p], p))[:count])


@pytest.fixture(scope="module")
def ctx():
    return hgc_jit.Context(target="host", cache_dir="")


@pytest.mark.parametrize("policy,budget", [("hgca", "0.1"), ("quest", "0.2")])
def test_recall_follows_the_accumulated_mass(ctx, policy, budget):
    config = config_for(policy, budget)
    block = PAGE if policy == "quest" else 1
    cache, _, exact = make(ctx, config, recall_period=2, recall_blocks=2)
    kernel = ctx.compile(config)
    rng = np.random.default_rng(6)
    acc = {seq: np.zeros(-(-n // PAGE)) for seq, n in enumerate(LENGTHS)}
    recalled = {seq: [] for seq in range(2)}
    for step in range(6):
        q = rng.standard_normal((2, 8, 64)).astype(np.float32)
        p = q + 0.3 * rng.standard_normal((2, 8, 64)).astype(np.float32)
        selection = cache.select_ahead(kernel, 0, [0, 1], p)
        out, stats = cache.decode_selected(kernel, selection, q)
        hits = recalled_tokens = 0
        for seq, n in enumerate(LENGTHS):
            k, v = exact[seq]
            q64 = q[seq].astype(np.float64)
            chosen = choose(p[seq].astype(np.float64), k, n, policy, budget,
                            block, SINK, WINDOW)
            pages = {t for page in recalled[seq]
                     for t in range(page * PAGE, (page + 1) * PAGE)}
            host = [unit_tokens(n, chosen[h], block) | pages for h in range(2)]
            want = attend(q64, k, v, [set(hot_tokens(n, SINK, WINDOW)) | s
                                      for s in host])
            np.testing.assert_allclose(out[seq], want, atol=5e-5, rtol=0,
                                       err_msg=f"step {step} seq {seq}")
            hits += sum(len(unit_tokens(n, chosen[h], block) & pages)
                        for h in range(2))
            recalled_tokens += 2 * len(pages)
            if step % 2 == 1:  # every second step: measure and recall
                acc[seq] = 0.5 * acc[seq] + page_mass(q64, k, n, host)
                recalled[seq] = hottest(acc[seq], n, 2)
            assert cache.recalled(seq, 0) == recalled[seq]
        assert stats.recalled_tokens == recalled_tokens
        assert stats.recall_hits == hits
    assert all(len(pages) == 2 for pages in recalled.values())


def test_recalls_and_demotions_lose_nothing(ctx):
    """Recalled pages sit on the device tier; cooled ones go back; every
    token reads back bit-exactly, before and after more appends."""
    config = config_for()
    cache, stored, exact = make(ctx, config, recall_period=1, recall_blocks=3)
    kernel = ctx.compile(config)
    device = cache.stats()["pages"][0]
    # Queries that look for three pages, then for three others: the first
    # three are recalled, then demoted for the others.
    for targets in ([3, 5, 7], [2, 8, 10]):
        for step in range(4):
            q = np.zeros((2, 8, 64), np.float32)
            for seq in range(2):
                k = exact[seq][0]
                for h in range(8):
                    page = targets[(h + step) % 3]
                    q[seq, h] = 3 * k[h // 4, page * PAGE + step]
            cache.decode_selected(
                kernel, cache.select_ahead(kernel, 0, [0, 1], q), q)
            now = [cache.recalled(seq, 0) for seq in range(2)]
            assert cache.stats()["pages"][0] == device + sum(map(len, now))
        assert now == [targets, targets]
    for seq in range(2):
        k, v = cache.read(seq, 0)
        assert k.tobytes() == stored[seq][0].tobytes()
        assert v.tobytes() == stored[seq][1].tobytes()


def test_a_full_device_tier_recalls_nothing_and_stays_exact(ctx):
    """Recall never makes room by dropping: without a free device page the
    pages stay on the host, and the step attends what is recalled."""
    config = config_for()
    cache, _, exact = make(ctx, config, device_pages=10, recall_period=1,
                           recall_blocks=2)
    kernel = ctx.compile(config)
    q = np.random.default_rng(8).standard_normal((2, 8, 64)).astype(
        np.float32)
    for _ in range(2):
        selection = cache.select_ahead(kernel, 0, [0, 1], q)
        out, _ = cache.decode_selected(kernel, selection, q)
    assert cache.stats()["pages"][0] == 10
    for seq, n in enumerate(LENGTHS):
        k, v = exact[seq]
        pages = {t for page in cache.recalled(seq, 0)
                 for t in range(page * PAGE, (page + 1) * PAGE)}
        chosen = choose(q[seq].astype(np.float64), k, n, "hgca", "0.1", 1,
                        SINK, WINDOW)
        tokens = [set(hot_tokens(n, SINK, WINDOW)) | pages |
                  unit_tokens(n, chosen[h], 1) for h in range(2)]
        np.testing.assert_allclose(out[seq], attend(q[seq], k, v, tokens),
                                   atol=5e-5, rtol=0)


def test_bad_recall_options_are_one_line_errors(ctx):
    config = config_for()
    for options, message in [
            (dict(recall_period=-1, recall_blocks=2),
             "recall_period and recall_blocks must be >= 0, got -1 and 2"),
            (dict(recall_period=4),
             "periodic recall needs both recall_period and recall_blocks, "
             "got 4 and 0"),
            (dict(recall_period=4, recall_blocks=9, device_pages=8),
             "recall_blocks 9 exceeds the device tier's device_pages 8")]:
        with pytest.raises(hgc_jit.Error, match=message):
            ctx.create_cache(config, layers=1, page_tokens=PAGE, **options)
    with pytest.raises(hgc_jit.Error, match="periodic recall needs a hybrid "
                       "placement; policy 'full'"):
        ctx.create_cache(config_for("full"), layers=1, page_tokens=PAGE,
                         recall_period=1, recall_blocks=1)
    quest = config_for("quest", "0.2", block=32)
    cache, _, _ = make(ctx, quest, recall_period=1, recall_blocks=1)
    kernel = ctx.compile(quest)
    q = np.ones((2, 8, 64), np.float32)
    with pytest.raises(hgc_jit.Error, match="periodic recall of pages of 16 "
                       "tokens needs a selection of tokens, or of blocks of "
                       "a page each"):
        cache.decode_selected(kernel, cache.select_ahead(kernel, 0, [0, 1], q),
                              q)
