#!/usr/bin/env python3
"""Accuracy of each sparse placement policy against exact attention.

Synthetic per-KV-head regimes that stress selection differently: sink-heavy
(the first tokens carry the mass), local (relevance rising toward the recent
end of the host range), retrieval needles (a few scattered tokens), diffuse
(random keys: near-uniform attention), mixed (one regime per KV head), keys
with outlier channels (a few channels 8x larger: what per-token int8 codes
and min/max boxes handle worst) and values with a non-zero mean. Each decode
step runs compiled through hgc-runner (bind, place, split, host loops) for
hgca, hca (int8 codes, and pq16x256 codebooks fitted to the first 4096
tokens), quest/16 and sparf (16 of 64 channels, the rest folded in as the
mean value) at 2%, 5% and 10% host budgets; the output's relative
L2 error is against float64 exact attention, and the attention mass kept
(exact softmax mass of the attended tokens, averaged over query heads) is
from the float64 reference selection of each policy, whose sets the tests
assert equal to the compiled ones (test_hca_policy.py, test_sparf_policy.py,
test_hybrid_end_to_end.py); so is the overlap of hca's code-scored set with
the exact top-k at equal count. sparf's mass kept counts the tokens it
attends, not the mean value it folds in for the rest.

  bench/policy_accuracy.py [--build build] [--context 8192] [--out FILE.md]
"""
import argparse
import json
import pathlib
import sys
import tempfile

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "test" / "python"))
import reference as ref  # noqa: E402
from budget_error import run  # noqa: E402
from runtime_codes import runtime_pq  # noqa: E402

BUDGETS = [0.02, 0.05, 0.10]
POLICIES = [("hgca", []), ("hca", ["--tau=0.9"]),
            ("hca/pq16x256", ["--tau=0.9", "--codebook=pq16x256"]),
            ("quest/16", ["--block=16"]), ("sparf", ["--channels=16"])]
# pq codebooks are fitted to the first PREFILL tokens' keys, then every key
# is encoded, as an engine does after the prompt.
PREFILL = 4096
REGIMES = ["sink-heavy", "local", "needles", "diffuse", "mixed",
           "outlier-channels", "value-mean"]
SINK, WINDOW, DIM, Q_HEADS, KV_HEADS = 4, 64, 64, 8, 4


def shape_head(rng, regime, k, direction, context):
    """Adds one regime's structure to one KV head's keys k [context, dim]
    (scores scale 1/8: +8 on the direction is a logit of about +4)."""
    host = np.arange(SINK, context - WINDOW)
    if regime == "sink-heavy":
        k[:SINK] += 24.0 * direction
    elif regime == "local":
        ramp = np.linspace(0.0, 10.0, len(host)) ** 1.5 / 10.0 ** 0.5
        k[host] += ramp[:, None] * direction
    elif regime == "needles":
        needles = rng.choice(host, 8, replace=False)
        k[needles] += rng.uniform(12.0, 18.0, (8, 1)) * direction
    elif regime == "outlier-channels":
        k[:, :4] *= 8.0
        needles = rng.choice(host, 32, replace=False)
        k[needles] += 8.0 * direction
    elif regime == "value-mean":
        needles = rng.choice(host, 32, replace=False)
        k[needles] += 8.0 * direction
    # diffuse: the random keys alone.


def regime_kv(regime, context, seed):
    """(q [1, Hq, D], k, v [1, Hkv, context, D]) float32 for one regime."""
    rng = np.random.default_rng(seed)
    q = rng.standard_normal((1, Q_HEADS, DIM)).astype(np.float32)
    k = rng.standard_normal((1, KV_HEADS, context, DIM))
    v = rng.standard_normal((1, KV_HEADS, context, DIM))
    group = Q_HEADS // KV_HEADS
    mixed = ["sink-heavy", "local", "needles", "diffuse"]
    for hk in range(KV_HEADS):
        direction = q[0, hk * group:(hk + 1) * group].mean(0)
        direction = direction / np.linalg.norm(direction)
        head_regime = mixed[hk % len(mixed)] if regime == "mixed" else regime
        shape_head(rng, head_regime, k[0, hk], direction, context)
    if regime == "value-mean":
        v += 2.0
    return q, k.astype(np.float32), v.astype(np.float32)


def program(context, pq=None):
    """The decode step; with pq = (subspaces, centroids) the cache is bound
    with product-quantized codes and codebooks (arguments 3 and 4)."""
    def t(*shape, elt="f32"):
        return "tensor<" + "x".join(map(str, shape)) + f"x{elt}>"
    q, kv = t(1, Q_HEADS, DIM), t(1, KV_HEADS, context, DIM)
    cache = f"!hgc.kv_cache<{KV_HEADS}x{DIM}xf32>"
    args, bound = f"%q: {q}, %k: {kv}, %v: {kv}", ""
    if pq:
        groups, centroids = pq
        codes = t(1, KV_HEADS, context, groups,
                  elt="i16" if centroids > 256 else "i8")
        books = t(1, KV_HEADS, groups, centroids, DIM // groups)
        args += f", %codes: {codes}, %books: {books}"
        bound = f" pq(%codes, %books : {codes}, {books})"
    return f"""
func.func @main({args}) -> {q} {{
  %cache = hgc.bind_kv %k, %v{bound} : {kv}, {kv} -> {cache}
  %o = hgc.decode_attention %q, %cache : {q}, {cache} -> {q}
  return %o : {q}
}}"""


def kept_sets(policy, q, k, budget, context, approx=None):
    """Per KV head, the tokens the policy attends (float64 reference); hca
    scores `approx` keys when given (pq's reconstruction)."""
    hot = list(range(SINK)) + list(range(context - WINDOW, context))
    host = list(range(SINK, context - WINDOW))
    if policy == "hca":
        _, sets = ref.hca_decode(q, k, k, [context], SINK, WINDOW, budget, 0.9,
                                 approx=approx)
        return [hot + sets[(0, hk)] for hk in range(KV_HEADS)]
    if policy == "sparf":
        _, sets, _ = ref.sparf_decode(q, k, k, [context], SINK, WINDOW, budget,
                                      16)
        return [hot + sets[(0, hk, 1)] for hk in range(KV_HEADS)]
    group = Q_HEADS // KV_HEADS
    kept = []
    for hk in range(KV_HEADS):
        qg = q[:, hk * group:(hk + 1) * group]
        if policy == "hgca":
            scores = ref.select_scores(qg, k[:, hk:hk + 1, host])[0, 0]
            chosen = [host[i] for i in ref.top_set(
                scores, int(np.ceil(budget * len(host))))]
        else:  # quest/16 from the first host token
            blocks = [host[i:i + 16] for i in range(0, len(host), 16)]
            lo = np.stack([k[0, hk, b].min(0) for b in blocks])
            hi = np.stack([k[0, hk, b].max(0) for b in blocks])
            scores = ref.block_scores(qg, lo[None, None], hi[None, None])[0, 0]
            count = int(np.ceil(budget * len(blocks)))
            chosen = [t for i in ref.top_set(scores, count) for t in blocks[i]]
        kept.append(hot + chosen)
    return kept


def overlap_at_equal_count(q, k, budget, context, approx=None):
    """How much of the exact top-k (hgca's host set) hca's codes choose at
    the same count (tau 1): |codes' set & exact set| / |exact set|, the
    mean over KV heads."""
    exact = kept_sets("hgca", q, k, budget, context)
    _, coded = ref.hca_decode(q, k, k, [context], SINK, WINDOW, budget, 1.0,
                              approx=approx)
    shares = []
    for hk in range(KV_HEADS):
        want = set(exact[hk][SINK + WINDOW:])
        shares.append(len(want & set(coded[(0, hk)])) / max(1, len(want)))
    return float(np.mean(shares))


def mass_kept(q, k, sets):
    group = Q_HEADS // KV_HEADS
    masses = []
    for h in range(Q_HEADS):
        s = k[0, h // group] @ q[0, h] / np.sqrt(DIM)
        p = np.exp(s - s.max())
        p /= p.sum()
        masses.append(p[sets[h // group]].sum())
    return float(np.mean(masses))


def measure(runner, context, seed=0):
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        for r, regime in enumerate(REGIMES):
            q, k, v = regime_kv(regime, context, seed + r)
            q64, k64, v64 = (x.astype(np.float64) for x in (q, k, v))
            exact, _ = ref.partial_attention(q64, k64, v64, [context])
            codes, books = runtime_pq(k, 16, 256, prefill=PREFILL)
            pq_keys = ref.pq_reconstruct(codes.view(np.uint8), books)
            for policy, extra in POLICIES:
                name = policy.split("/")[0]
                pq = "pq" in policy
                source = program(context, (16, 256) if pq else None)
                arrays = [q, k, v] + ([codes, books] if pq else [])
                approx = pq_keys if pq else None
                for budget in BUDGETS:
                    got = run(runner, tmp / f"{regime}-{r}-{budget}-{pq}",
                              source, arrays,
                              ["--split", f"--policy={name}", f"--sink={SINK}",
                               f"--window={WINDOW}", f"--budget={budget}"]
                              + extra)
                    error = np.linalg.norm(got - exact) / np.linalg.norm(exact)
                    sets = kept_sets(name, q64, k64, budget, context, approx)
                    row = {"regime": regime, "policy": policy,
                           "budget": budget, "rel_l2": float(error),
                           "mass_kept": mass_kept(q64, k64, sets),
                           "tokens_kept": float(np.mean(
                               [len(s) for s in sets]))}
                    if name == "hca":
                        row["overlap_with_exact_topk"] = \
                            overlap_at_equal_count(q64, k64, budget, context,
                                                   approx)
                    rows.append(row)
    return rows


def markdown(rows, context):
    lines = [f"context {context}, 1 sequence, {Q_HEADS} query / {KV_HEADS} KV "
             f"heads, head dim {DIM}, sink {SINK}, window {WINDOW}, f32; hca "
             f"tau 0.9; sparf 16 channels. Each cell: relative L2 error / mass kept / tokens "
             f"attended per KV head (mean).", ""]
    header = "| regime | policy | " + " | ".join(
        f"{b:.0%} budget" for b in BUDGETS) + " |"
    lines += [header, "|" + " --- |" * (2 + len(BUDGETS))]
    for regime in REGIMES:
        for policy, _ in POLICIES:
            cells = [r for r in rows
                     if r["regime"] == regime and r["policy"] == policy]
            lines.append(f"| {regime} | {policy} | " + " | ".join(
                f"{c['rel_l2']:.2e} / {c['mass_kept']:.3f} / "
                f"{c['tokens_kept']:.0f}" for c in cells) + " |")
    lines += ["", "hca's codes against exact scores at equal count (tau 1): "
              "the share of hgca's exact top-k host set the codes choose.", "",
              "| regime | codes | " + " | ".join(f"{b:.0%}" for b in BUDGETS)
              + " |", "|" + " --- |" * (2 + len(BUDGETS))]
    for regime in REGIMES:
        for policy in ("hca", "hca/pq16x256"):
            cells = [r for r in rows if r["regime"] == regime and
                     r["policy"] == policy]
            codes = "int8" if policy == "hca" else "pq16x256"
            lines.append(f"| {regime} | {codes} | " + " | ".join(
                f"{c['overlap_with_exact_topk']:.3f}" for c in cells) + " |")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", default=str(ROOT / "build"))
    parser.add_argument("--context", type=int, default=8192)
    parser.add_argument("--out", help="write the markdown table here")
    parser.add_argument("--json", help="write the rows as JSON here")
    args = parser.parse_args()
    runner = pathlib.Path(args.build) / "bin" / "hgc-runner"
    rows = measure(runner, args.context)
    table = markdown(rows, args.context)
    print(table)
    if args.out:
        pathlib.Path(args.out).write_text(table)
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
