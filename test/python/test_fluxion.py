"""fluxion (Fluxion) in the JIT: per-KV-head budgets and granularity chosen
by calibration on the cache's real scores, compiled as per-head overrides,
the unselected host tokens estimated (tail=summary by default).

Checked: on heads built to need different budgets the sharp head gets one
chunk and the others more, the budgets summing to the total
(fraction x mean host tokens x KV heads); a calibrated step equals a float64
reference that attends each head's own top tokens (or Quest blocks) at its
budget and estimates the rest (reference.tail_summary), 1e-4 at f32; and
equals the same overrides written by hand (the plan is what compiles); full
budget is exact (1e-5); the first step calibrates from its own queries,
hgc_calibrate and recalibrate_period recalibrate; misuse is a one-line
error.
"""
import sys

import numpy as np
import pytest

import reference as ref
from conftest import ROOT
from test_tail_estimate import with_tail

sys.path.insert(0, str(ROOT / "jit" / "python"))
import hgc_jit  # noqa: E402

SINK, WINDOW, HQ, HKV, DIM = 4, 32, 8, 4, 32
LENGTH = 1060  # 1024 host tokens


def config(budget="0.05", policy="fluxion", **extra):
    return hgc_jit.AttentionConfig(HQ, HKV, DIM, kv_dtype="f32", policy=policy,
                                   sink=SINK, window=WINDOW, budget=budget,
                                   **extra)


def heads_of_every_kind(seed):
    """Keys where KV head 0 is sharp (8 needles its queries find), head 1
    holds a contiguous relevant run, heads 2-3 are diffuse; values random."""
    rng = np.random.default_rng(seed)
    q = rng.standard_normal((1, HQ, DIM))
    k = rng.standard_normal((1, HKV, LENGTH, DIM)) * 0.5
    v = rng.standard_normal((1, HKV, LENGTH, DIM))
    host = np.arange(SINK, LENGTH - WINDOW)
    direction = q[0, 0:2].mean(0)
    for t in rng.choice(host, 8, replace=False):
        k[0, 0, t] += 12.0 * direction / np.linalg.norm(direction)
    direction = q[0, 2:4].mean(0)
    k[0, 1, 400:464] += 2.0 * direction / np.linalg.norm(direction)
    return q.astype(np.float32), k.astype(np.float32), v.astype(np.float32)


def make_cache(ctx, cfg, k, v, **options):
    cache = ctx.create_cache(cfg, layers=1, **options)
    cache.add_sequence(0)
    cache.append(0, 0, k[0], v[0])
    return cache


def reference_step(q, k, v, budgets):
    """Each KV head's own budget and granularity, then the tail estimate."""
    q64, k64, v64 = (x.astype(np.float64) for x in (q, k, v))
    sets = ref.fluxion_host_sets(q64, k64, budgets, SINK, WINDOW)
    # Token heads select exactly (hgca): their blocks' mass is exact.
    exact = {hk for hk, b in enumerate(budgets) if b.block == 1}
    return with_tail(q64, k64, v64, sets, SINK, WINDOW, exact_mass=exact)


@pytest.fixture(scope="module")
def ctx():
    return hgc_jit.Context(target="host")


def test_calibration_shares_the_total_by_head(ctx):
    q, k, v = heads_of_every_kind(1)
    kernel = ctx.compile(config())
    cache = make_cache(ctx, kernel.config, k, v)
    assert cache.calibration(kernel, 0) == []
    cache.calibrate(kernel, 0, [0], q)
    budgets = cache.calibration(kernel, 0)
    assert len(budgets) == HKV
    total = int(np.ceil(0.05 * (LENGTH - SINK - WINDOW))) * HKV
    assert sum(b.tokens for b in budgets) == total
    tokens = [b.tokens for b in budgets]
    chunk = min(16, max(1, total // (4 * HKV)))  # a quarter of a fair share
    # Sharp: one chunk holds its needles. The rest goes where the predicted
    # output error falls most: the run, and the diffuse heads whose tail the
    # estimate does not already carry.
    assert tokens[0] == chunk, tokens
    assert tokens[1] > chunk and max(tokens[2:]) > chunk, tokens
    assert budgets[0].entropy < min(b.entropy for b in budgets[2:])
    # Scattered needles need tokens; a contiguous run is served by blocks.
    assert budgets[0].block == 1, [b.block for b in budgets]
    assert budgets[1].block > 1, [b.block for b in budgets]


def test_calibrated_step_matches_reference(ctx):
    q, k, v = heads_of_every_kind(2)
    kernel = ctx.compile(config())
    cache = make_cache(ctx, kernel.config, k, v)
    out, _ = cache.decode(kernel, 0, [0], q)  # calibrates on this step
    budgets = cache.calibration(kernel, 0)
    assert budgets, "the first step calibrates"
    want = reference_step(q, k, v, budgets)
    np.testing.assert_allclose(out, want, atol=1e-4, rtol=1e-4)

    # The same plan written as overrides (hgca or quest per head, the tail
    # estimated) compiles to the same step.
    overrides = []
    for hk, b in enumerate(budgets):
        policy = "quest" if b.block > 1 else "hgca"
        overrides.append((hk, 1, policy, str(b.tokens), max(b.block, 16)))
    by_hand = ctx.compile(config(policy="hgca", tail="summary",
                                 overrides=overrides))
    again, _ = make_cache(ctx, by_hand.config, k, v).decode(by_hand, 0, [0], q)
    np.testing.assert_allclose(out, again, atol=1e-6, rtol=1e-6)

    exact, _ = ref.partial_attention(*(x.astype(np.float64)
                                       for x in (q, k, v)))
    hgca = ctx.compile(config(policy="hgca"))
    dropped, _ = make_cache(ctx, hgca.config, k, v).decode(hgca, 0, [0], q)

    def error(y):
        return np.linalg.norm(y - exact, axis=-1) / np.linalg.norm(exact,
                                                                   axis=-1)
    assert error(out).mean() < 0.5 * error(dropped).mean()


def test_full_budget_is_exact(ctx):
    q, k, v = heads_of_every_kind(3)
    kernel = ctx.compile(config(budget="1.0"))
    out, _ = make_cache(ctx, kernel.config, k, v).decode(kernel, 0, [0], q)
    exact, _ = ref.partial_attention(*(x.astype(np.float64)
                                       for x in (q, k, v)))
    np.testing.assert_allclose(out, exact, atol=1e-5, rtol=1e-5)


def test_recalibration(ctx):
    q, k, v = heads_of_every_kind(4)
    kernel = ctx.compile(config())
    # Needles of head 0 found by its queries: then by nobody's.
    other = np.random.default_rng(5).standard_normal(q.shape).astype(
        np.float32)
    cache = make_cache(ctx, kernel.config, k, v, recalibrate_period=2)
    cache.decode(kernel, 0, [0], q)
    first = [b.tokens for b in cache.calibration(kernel, 0)]
    cache.decode(kernel, 0, [0], other)  # step 1 of 2: the plan stays
    assert [b.tokens for b in cache.calibration(kernel, 0)] == first
    cache.decode(kernel, 0, [0], other)  # step 2: recalibrated
    second = [b.tokens for b in cache.calibration(kernel, 0)]
    assert second != first and second[0] > first[0]
    # On demand, without a period.
    fixed = make_cache(ctx, kernel.config, k, v)
    fixed.decode(kernel, 0, [0], q)
    for _ in range(3):
        fixed.decode(kernel, 0, [0], other)
    assert [b.tokens for b in fixed.calibration(kernel, 0)] == first
    fixed.calibrate(kernel, 0, [0], other)
    assert [b.tokens for b in fixed.calibration(kernel, 0)] == second


def test_misuse_is_a_one_line_error(ctx):
    q, k, v = heads_of_every_kind(6)
    hgca = ctx.compile(config(policy="hgca"))
    cache = make_cache(ctx, hgca.config, k, v)
    with pytest.raises(hgc_jit.Error, match="policy 'hgca' does not "
                       "calibrate per-head budgets"):
        cache.calibrate(hgca, 0, [0], q)
    with pytest.raises(hgc_jit.Error, match="recalibrate_period must be >= 0"):
        ctx.create_cache(hgca.config, layers=1, recalibrate_period=-1)
    with pytest.raises(hgc_jit.Error, match="tail 'sample' is not auto, "
                       "none or summary"):
        ctx.compile(config(tail="sample"))
