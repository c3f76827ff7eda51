"""tail=summary: the host tokens a selection leaves out, estimated from their
blocks' moments (hgc.tail_estimate) and merged as one more partial.

Checked against reference.tail_summary, a float64 implementation of the same
estimator, with each policy's float64 selection (f32, 1e-4: the compiled
estimate forms the variance as E[k^2] - mean^2 in f32; after hgca's exact
selection a block's mass is its tokens' exact scores'); exact at full budget
(1e-5); exact for any budget when every block's keys are identical (the
estimator's only approximation is the spread of scores within a block); and
its own math on Gaussian keys: the block mass estimate exp(log n + mu +
sigma^2 / 2) is consistent (within the lognormal's sampling error of the true
sum) and, averaged over seeds, unbiased to 3%.
"""
import numpy as np
import pytest

import reference as ref
from test_hybrid_end_to_end import run_step

SINK, WINDOW = 3, 10


def with_tail(q, keys, vals, sets, sink, window, exact_mass=False):
    """Exact attention over the hot set and the selected host tokens, merged
    with the reference tail estimate of the host tokens left out (blocks'
    exact mass after an exact selection)."""
    batch, n = q.shape[0], keys.shape[2]
    hot = list(range(sink)) + list(range(n - window, n))
    chosen = {key: sorted(hot + list(s)) for key, s in sets.items()}
    kv_heads = keys.shape[1]
    group = q.shape[1] // kv_heads
    out = np.zeros(q.shape[:2] + (vals.shape[3],))
    lse = np.zeros(q.shape[:2])
    for b in range(batch):
        for h in range(q.shape[1]):
            tokens = chosen[(b, h // group)]
            s = keys[b, h // group, tokens] @ q[b, h] / np.sqrt(q.shape[2])
            p = np.exp(s - s.max())
            out[b, h] = p @ vals[b, h // group, tokens] / p.sum()
            lse[b, h] = s.max() + np.log(p.sum())
    view = slice(sink, n - window)
    relative = {key: {t - sink for t in s} for key, s in sets.items()}
    tail_out, tail_lse = ref.tail_summary(
        q, keys[:, :, view], vals[:, :, view], [n - sink - window] * batch,
        relative, exact_mass=exact_mass)
    merged, _ = ref.lse_merge([out, tail_out], [lse, tail_lse])
    return merged


@pytest.mark.parametrize("policy,budget", [
    ("hgca", "0.25"), ("hgca", "7"), ("quest", "32"), ("hca", "0.3"),
    ("sparf", "0.25")])
def test_tail_matches_reference(hgc_runner, tmp_path, policy, budget):
    y, q, keys, vals = run_step(
        hgc_runner, tmp_path, "f32", (8, 2), 150,
        [f"--policy={policy}", f"--sink={SINK}", f"--window={WINDOW}",
         f"--budget={budget}", "--block=16", "--tau=0.9", "--channels=4",
         "--tail=summary"], seed=31)
    parsed = int(budget) if budget.isdigit() else float(budget)
    sets = ref.policy_host_sets(policy, q, keys, parsed, SINK, WINDOW)
    want = with_tail(q, keys, vals, sets, SINK, WINDOW,
                     exact_mass=policy == "hgca")
    np.testing.assert_allclose(y, want, atol=1e-4, rtol=1e-4)
    exact, _ = ref.partial_attention(q, keys, vals)
    assert np.abs(y - exact).max() > 1e-4, "an estimate is not exact"


@pytest.mark.parametrize("policy", ["hgca", "quest", "sparf"])
def test_tail_at_full_budget_is_exact(hgc_runner, tmp_path, policy):
    y, q, keys, vals = run_step(
        hgc_runner, tmp_path, "f32", (8, 2), 150,
        [f"--policy={policy}", f"--sink={SINK}", f"--window={WINDOW}",
         "--budget=1.0", "--channels=4", "--tail=summary"], seed=32)
    exact, _ = ref.partial_attention(q, keys, vals)
    np.testing.assert_allclose(y, exact, atol=1e-5, rtol=1e-5)


def block_program(tokens, block):
    """One tail estimate over every token of a [1, 1, tokens, 8] cache, with
    nothing selected."""
    kv = f"tensor<1x1x{tokens}x8xf32>"
    return f"""
func.func @main(%q: tensor<1x1x8xf32>, %k: {kv}, %v: {kv},
                %i: tensor<1x1x1xi32>) -> (tensor<1x1x8xf32>, tensor<1x1xf32>) {{
  %o, %l = hgc.tail_estimate %q, %k, %v, %i {{summary_block = {block} : i64}}
      : (tensor<1x1x8xf32>, {kv}, {kv}, tensor<1x1x1xi32>)
      -> (tensor<1x1x8xf32>, tensor<1x1xf32>)
  return %o, %l : tensor<1x1x8xf32>, tensor<1x1xf32>
}}"""


def test_identical_keys_in_a_block_are_exact(hgc_runner, tmp_path):
    """Equal scores within a block: count, mean and value mean are the
    block's exact contribution, whatever the values."""
    rng = np.random.default_rng(33)
    tokens, block = 64, 16
    per_block = rng.standard_normal((tokens // block, 8))
    k = np.repeat(per_block, block, axis=0)[None, None].astype(np.float32)
    v = rng.standard_normal((1, 1, tokens, 8)).astype(np.float32)
    q = rng.standard_normal((1, 1, 8)).astype(np.float32)
    none = np.full((1, 1, 1), -1, np.int32)
    out, lse = ref.run_hgc(hgc_runner, tmp_path, block_program(tokens, block),
                           [q, k, v, none])
    want, want_lse = ref.partial_attention(q.astype(np.float64),
                                           k.astype(np.float64),
                                           v.astype(np.float64))
    np.testing.assert_allclose(out, want, atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(lse, want_lse, atol=1e-5, rtol=1e-5)


def test_gaussian_block_mass_is_consistent_and_unbiased(hgc_runner, tmp_path):
    """Keys ~ N(0, 1) per channel, a query of score variance
    sigma^2 = |q|^2 / 8 = 1: the summed mass of n = 1024 tokens against
    n exp(mu_s + var_s / 2) from the sample moments. One block's error is
    within the lognormal's sampling spread (sqrt((e^1 - 1) / n) ~ 4%, bound
    at 4 sigma); the mean ratio over 16 seeds within 3% of 1."""
    tokens = 1024
    ratios = []
    for seed in range(16):
        rng = np.random.default_rng(100 + seed)
        q = rng.standard_normal((1, 1, 8))
        q *= np.sqrt(8.0) / np.linalg.norm(q)
        k = rng.standard_normal((1, 1, tokens, 8))
        v = rng.standard_normal((1, 1, tokens, 8))
        none = np.full((1, 1, 1), -1, np.int32)
        _, lse = ref.run_hgc(hgc_runner, tmp_path / str(seed),
                             block_program(tokens, tokens),
                             [q.astype(np.float32), k.astype(np.float32),
                              v.astype(np.float32), none])
        s = k[0, 0] @ q[0, 0] / np.sqrt(8.0)
        true = np.log(np.exp(s).sum())
        ratios.append(np.exp(float(lse[0, 0]) - true))
    spread = np.sqrt((np.e - 1) / tokens)
    assert max(abs(r - 1) for r in ratios) < 4 * spread, ratios
    assert abs(np.mean(ratios) - 1) < 0.03, ratios
