"""float64 numpy references for the hgc ops and small helpers to run them.

Everything here is independent of hgc's lowering: plain loops and numpy in
float64, following the op descriptions in docs/dialect/Hgc.md.
"""
import pathlib
import subprocess

import numpy as np

NEG_INF = -np.inf


def bf16_bits(x):
    """Rounds float32 values to bfloat16 and returns (bits as uint16, the
    rounded values as float64) so a reference sees exactly what hgc reads."""
    x = np.asarray(x, np.float32)
    bits = x.view(np.uint32).astype(np.uint64)
    rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)
    values = (rounded.astype(np.uint32) << 16).view(np.float32)
    return rounded, values.astype(np.float64)


def as_kv(x, dtype):
    """(array to feed hgc, float64 values hgc will read) for a KV dtype."""
    if dtype == "bf16":
        return bf16_bits(x)
    array = np.asarray(x).astype(dtype)
    return array, array.astype(np.float64)


def partial_attention(q, k, v, lengths=None, indices=None, block_size=1,
                      scale=None, softcap=0.0):
    """Output [B, Hq, Dv] and LSE [B, Hq] over the attended tokens."""
    batch, q_heads, dim = q.shape
    kv_heads, tokens = k.shape[1], k.shape[2]
    group = q_heads // kv_heads
    scale = 1.0 / np.sqrt(dim) if scale is None else scale
    out = np.zeros((batch, q_heads, v.shape[3]))
    lse = np.full((batch, q_heads), NEG_INF)
    for b in range(batch):
        n = tokens if lengths is None else max(0, min(int(lengths[b]), tokens))
        for h in range(q_heads):
            hk = h // group
            if indices is None:
                chosen = list(range(n))
            else:
                chosen = [i * block_size + u for i in indices[b, hk] if i >= 0
                          for u in range(block_size)
                          if i * block_size + u < n]
            if not chosen:
                continue
            s = k[b, hk, chosen] @ q[b, h] * scale
            if softcap > 0:
                s = softcap * np.tanh(s / softcap)
            m = s.max()
            p = np.exp(s - m)
            out[b, h] = p @ v[b, hk, chosen] / p.sum()
            lse[b, h] = m + np.log(p.sum())
    return out, lse


def select_scores(q, k, scale=None):
    """Per (batch, KV head, token): max over the group's query heads."""
    batch, q_heads, dim = q.shape
    kv_heads = k.shape[1]
    group = q_heads // kv_heads
    scale = 1.0 / np.sqrt(dim) if scale is None else scale
    per_head = np.einsum("bhd,bktd->bhkt", q, k)
    scores = np.empty(k.shape[:3])
    for hk in range(kv_heads):
        scores[:, hk] = per_head[:, hk * group:(hk + 1) * group, hk].max(1)
    return scores * scale


def block_summaries(k, block):
    """Per-block key minimum and maximum [batch, kv_heads, blocks, dim] over
    the first `lengths` tokens' blocks (a short last block summarizes what
    it holds)."""
    batch, kv_heads, tokens, dim = k.shape
    blocks = -(-tokens // block)
    lo = np.empty((batch, kv_heads, blocks, dim), k.dtype)
    hi = np.empty_like(lo)
    for j in range(blocks):
        part = k[:, :, j * block:(j + 1) * block]
        lo[:, :, j], hi[:, :, j] = part.min(2), part.max(2)
    return lo, hi


def block_scores(q, lo, hi, scale=None):
    """Upper bound of scale * q.k over each block's [min, max] box, max over
    the group's query heads: [batch, kv_heads, blocks]."""
    batch, q_heads, dim = q.shape
    kv_heads = lo.shape[1]
    group = q_heads // kv_heads
    scale = 1.0 / np.sqrt(dim) if scale is None else scale
    scores = np.full(lo.shape[:3], -np.inf)
    for h in range(q_heads):
        qs = q[:, h, None, :] * scale
        bound = np.maximum(qs * lo[:, h // group], qs * hi[:, h // group]).sum(-1)
        scores[:, h // group] = np.maximum(scores[:, h // group], bound)
    return scores


def top_set(scores, count):
    """The `count` highest entries, ties to the lower index (ascending)."""
    return np.sort(np.argsort(-scores, kind="stable")[:count])


def lse_merge(outputs, lses):
    lses = np.stack(lses)
    m = lses.max(0)
    safe = np.where(np.isneginf(m), 0.0, m)
    w = np.exp(lses - safe)
    total = w.sum(0)
    out = np.einsum("p...,p...d->...d", w, np.stack(outputs))
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(total[..., None] > 0, out / total[..., None], 0.0)
        lse = np.where(total > 0, safe + np.log(total), NEG_INF)
    return out, lse


def run_hgc(runner, tmp_path, source, inputs, extra=()):
    """Runs @main of `source` with `inputs` (arg0, arg1, ...) and returns
    the results as numpy arrays."""
    tmp_path = pathlib.Path(tmp_path)
    tmp_path.mkdir(parents=True, exist_ok=True)
    program = tmp_path / "program.mlir"
    program.write_text(source)
    args = [str(runner), str(program), "--output-dir", str(tmp_path / "out")]
    for i, array in enumerate(inputs):
        path = tmp_path / f"arg{i}.npy"
        np.save(path, array)
        args.append(f"--input=arg{i}={path}")
    result = subprocess.run(args + list(extra), capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    outputs = sorted((tmp_path / "out").glob("out*.npy"),
                     key=lambda p: int(p.stem[3:]))
    return [np.load(p) for p in outputs]


def bf16_to_float(bits):
    return (np.asarray(bits, np.uint16).astype(np.uint32) << 16).view(
        np.float32).astype(np.float64)


def hybrid_decode(q, k, v, lengths, sink, window, budget, block=None,
                  summaries=None):
    """HGCA on one decode step, float64: the first `sink` and last `window`
    tokens dense, the tokens between them attended over a per-KV-head exact
    top-k (score = max over the group's query heads); `budget` an int count
    or a float fraction of the host tokens, rounded up. Exact attention over
    the union of the two sets, which is what the LSE merge must reproduce.

    With `block` (quest): the host tokens in blocks of `block` from the first
    host token, each scored by the upper bound over its key min/max (from
    `summaries` = (lo, hi) over absolute blocks when given, else from the
    keys); an int budget counts tokens, rounded up to blocks."""
    batch, q_heads, dim = q.shape
    kv_heads = k.shape[1]
    group = q_heads // kv_heads
    scores = select_scores(q, k)
    out = np.zeros((batch, q_heads, v.shape[3]))
    for b in range(batch):
        n = int(lengths[b])
        hot = list(range(n)) if n <= sink + window else (
            list(range(sink)) + list(range(n - window, n)))
        host = [] if n <= sink + window else list(range(sink, n - window))
        units = [[t] for t in host] if block is None else [
            host[i:i + block] for i in range(0, len(host), block)]
        if isinstance(budget, int):
            keep = budget if block is None else -(-budget // block)
        else:
            keep = int(np.ceil(budget * len(units)))
        keep = min(keep, len(units))
        for hk in range(kv_heads):
            if block is None:
                unit_scores = scores[b, hk, host]
            else:
                unit_scores = np.empty(len(units))
                for i, tokens in enumerate(units):
                    if summaries is None:
                        lo = k[b, hk, tokens].min(0)[None]
                        hi = k[b, hk, tokens].max(0)[None]
                    else:
                        j = tokens[0] // block
                        lo = summaries[0][b, hk, j][None]
                        hi = summaries[1][b, hk, j][None]
                    unit_scores[i] = block_scores(
                        q[b:b + 1, hk * group:(hk + 1) * group],
                        lo[None, None], hi[None, None])[0, 0, 0]
            order = np.argsort(-unit_scores, kind="stable")[:keep]
            chosen = hot + [t for i in order for t in units[i]]
            for h in range(hk * group, (hk + 1) * group):
                s = k[b, hk, chosen] @ q[b, h] / np.sqrt(dim)
                p = np.exp(s - s.max())
                out[b, h] = p @ v[b, hk, chosen] / p.sum()
    return out


def quantize_keys(k, bits=8):
    """HCAttention's per-token symmetric key codes, in float32 as the KV
    runtime computes them: (codes int8 [..., dim], scales float32 [...])."""
    k = np.asarray(k, np.float32)
    top = np.float32(2 ** (bits - 1) - 1)
    largest = np.abs(k).max(-1)
    scales = np.where(largest > 0, largest / top, 0).astype(np.float32)
    safe = np.where(scales > 0, scales, np.float32(1))[..., None]
    codes = np.clip(np.rint(k / safe), -top, top)
    codes = np.where(scales[..., None] > 0, codes, 0).astype(np.int8)
    return codes, scales


def mass_keep(scores, tau):
    """The fewest top scores whose softmax mass reaches tau (ties by index):
    the count kept by HCAttention's rule."""
    order = np.argsort(-scores, kind="stable")
    p = np.exp(scores[order] - scores[order[0]])
    cumulative = np.cumsum(p / p.sum())
    return int(np.searchsorted(cumulative, tau * (1 - 1e-12))) + 1


def pq_reconstruct(codes, codebooks):
    """Keys as product quantization sees them: per sub-space, the centroid
    its code names. codes [..., tokens, G], codebooks [..., G, C, w] ->
    [..., tokens, G * w] (q . this is the sum of the per-sub-space table
    entries pq selection adds up)."""
    codes = np.asarray(codes).astype(np.int64)
    lead = codes.shape[:-2]
    tokens, groups = codes.shape[-2:]
    width = codebooks.shape[-1]
    out = np.empty(lead + (tokens, groups * width))
    for index in np.ndindex(*lead):
        for g in range(groups):
            out[index + (slice(None), slice(g * width, (g + 1) * width))] = \
                codebooks[index + (g,)][codes[index + (slice(None), g)]]
    return out


def hca_decode(q, k, v, lengths, sink, window, budget, tau, codes=None,
               approx=None):
    """HCAttention on one decode step, float64 from the codes on: the hot set
    dense; each KV head's host tokens scored from int8 key codes (`codes` =
    (codes, scales) over all tokens when given, else quantized from `k`),
    max over the group's query heads; the fewest top-scoring host tokens
    whose softmax mass under those scores reaches `tau`, at most the budget
    (an int count or a float fraction, rounded up); exact attention over the
    hot set and the kept tokens. Returns (output, kept counts [b][kv_heads],
    kept sets). `approx`: the keys the scores see instead of the int8 codes'
    (pq_reconstruct's for product quantization)."""
    batch, q_heads, dim = q.shape
    kv_heads = k.shape[1]
    group = q_heads // kv_heads
    if approx is None:
        if codes is None:
            codes = quantize_keys(k)
        approx = codes[0].astype(np.float64) * \
            codes[1].astype(np.float64)[..., None]
    scores = select_scores(q, approx)
    out = np.zeros((batch, q_heads, v.shape[3]))
    kept_sets = {}
    for b in range(batch):
        n = int(lengths[b])
        hot = list(range(n)) if n <= sink + window else (
            list(range(sink)) + list(range(n - window, n)))
        host = [] if n <= sink + window else list(range(sink, n - window))
        cap = budget if isinstance(budget, int) else int(
            np.ceil(budget * len(host)))
        cap = min(cap, len(host))
        for hk in range(kv_heads):
            host_scores = scores[b, hk, host]
            keep = cap
            if host and tau < 1.0:
                keep = min(cap, mass_keep(host_scores, tau))
            order = np.argsort(-host_scores, kind="stable")[:keep]
            chosen = sorted(host[i] for i in order)
            kept_sets[(b, hk)] = chosen
            attended = hot + chosen
            for h in range(hk * group, (hk + 1) * group):
                s = k[b, hk, attended] @ q[b, h] / np.sqrt(dim)
                p = np.exp(s - s.max())
                out[b, h] = p @ v[b, hk, attended] / p.sum()
    return out, kept_sets


def sparq_scores(q, k, channels):
    """SparQ's approximate scores, float64: per KV head the `channels`
    channels of largest |q| summed over its group's query heads (ties to the
    lower channel), each query head's q.k on those only, scaled by
    1/sqrt(dim) * sqrt(|q|_1 / |q_r|_1); the maximum over the group.
    q [b, hq, d], k [b, hkv, t, d] -> [b, hkv, t]."""
    batch, q_heads, dim = q.shape
    kv_heads = k.shape[1]
    group = q_heads // kv_heads
    scores = np.full((batch, kv_heads, k.shape[2]), NEG_INF)
    for b in range(batch):
        for h in range(q_heads):
            hk = h // group
            summed = np.abs(q[b, hk * group:(hk + 1) * group]).sum(0)
            chosen = np.argsort(-summed, kind="stable")[:channels]
            magnitude = np.abs(q[b, h])
            chosen_l1 = magnitude[chosen].sum()
            factor = np.sqrt(magnitude.sum() / chosen_l1) if chosen_l1 > 0 \
                else 1.0
            s = k[b, h // group][:, chosen] @ q[b, h, chosen] * factor / \
                np.sqrt(dim)
            scores[b, h // group] = np.maximum(scores[b, h // group], s)
    return scores


def tier_ranges(n, sink, window, capacities):
    """The tokens of a sequence of `n` on each tier, fastest first: the hot
    set (sinks then window) on the first; the cold tokens oldest first on
    the next tiers, each up to its capacity (0: the rest)."""
    if n <= sink + window:
        return [list(range(n))] + [[] for _ in capacities]
    ranges = [list(range(sink)) + list(range(n - window, n))]
    start, end = sink, n - window
    for capacity in capacities:
        stop = end if capacity == 0 else min(end, start + capacity)
        ranges.append(list(range(start, stop)))
        start = stop
    return ranges


def tier_mean(v, tokens, sums=None, block=None):
    """The mean of rows `tokens` (one range) of v [t, d]; with per-block
    `sums` [blocks, d] of `block` tokens, the blocks wholly inside the range
    come from the sums (what an engine keeps), the rest from v."""
    if not tokens:
        return 0.0
    if sums is None:
        return v[tokens].mean(0)
    lo, hi = tokens[0], tokens[-1] + 1
    first, end = -(-lo // block), hi // block
    if first >= end:
        return v[lo:hi].mean(0)
    total = v[lo:first * block].sum(0) + sums[first:end].sum(0) + \
        v[end * block:hi].sum(0)
    return total / (hi - lo)


def sparf_decode(q, k, v, lengths, sink, window, budget, channels,
                 host_capacity=0, channel_keys=None, value_sums=None,
                 value_block=None):
    """InstInfer's SparF on one decode step, float64: the hot set dense;
    each cold tier (the host, and storage past `host_capacity`) per KV head
    keeps its top-budget tokens under sparq_scores and attends them exactly,
    then folds in the rest as the tier's mean value weighted by 1 - alpha,
    alpha the kept tokens' share of the tier's softmax mass under those
    scores (lse - log alpha); LSE merge of the tiers. Returns (output,
    kept sets {(b, kv head, tier): tokens}, alphas {(b, kv head, tier)}).
    An engine's `channel_keys` (token-major here) are what the scores see,
    its `value_sums` per `value_block` what the means are made of."""
    batch, q_heads, dim = q.shape
    kv_heads = k.shape[1]
    group = q_heads // kv_heads
    approx = sparq_scores(q, k if channel_keys is None else channel_keys,
                          channels)
    capacities = [host_capacity, 0] if host_capacity else [0]
    out = np.zeros((batch, q_heads, v.shape[3]))
    kept_sets, alphas = {}, {}
    for b in range(batch):
        ranges = tier_ranges(int(lengths[b]), sink, window, capacities)
        for hk in range(kv_heads):
            heads = range(hk * group, (hk + 1) * group)
            outputs, lses = [], []
            for h in heads:
                o, lse = attend(q[b, h], k[b, hk, ranges[0]],
                                v[b, hk, ranges[0]])
                outputs.append([o])
                lses.append([lse])
            for tier, tokens in enumerate(ranges[1:], start=1):
                keep = budget if isinstance(budget, int) else int(
                    np.ceil(budget * len(tokens)))
                keep = min(keep, len(tokens))
                s = approx[b, hk, tokens]
                order = np.argsort(-s, kind="stable")[:keep]
                chosen = sorted(tokens[i] for i in order)
                kept_sets[(b, hk, tier)] = chosen
                weights = np.exp(s - s.max()) if tokens else s
                alpha = weights[order].sum() / weights.sum() if tokens else 0.0
                alphas[(b, hk, tier)] = alpha
                mean = tier_mean(v[b, hk], tokens, None if value_sums is None
                                 else value_sums[b, hk], value_block)
                for i, h in enumerate(heads):
                    o, lse = attend(q[b, h], k[b, hk, chosen],
                                    v[b, hk, chosen])
                    if alpha > 0:
                        o = alpha * o + (1 - alpha) * mean
                        lse = lse - np.log(alpha)
                    outputs[i].append(o)
                    lses[i].append(lse)
            for i, h in enumerate(heads):
                out[b, h], _ = lse_merge(outputs[i], lses[i])
    return out, kept_sets, alphas


def attend(q, k, v):
    """Exact attention of one query row over rows k, v: (output, natural
    lse); nothing to attend gives (0, -inf)."""
    if len(k) == 0:
        return np.zeros(v.shape[-1]), NEG_INF
    s = k @ q / np.sqrt(q.shape[-1])
    m = s.max()
    p = np.exp(s - m)
    return p @ v / p.sum(), m + np.log(p.sum())


def tail_summary(q, k, v, lengths, selected, block=16, scale=None,
                 exact_mass=False):
    """hgc.tail_estimate in float64: per (sequence, query head), the tokens
    [0, lengths[b]) of k/v [B, Hkv, T, D] not in selected[(b, hk)] (a set of
    token positions), in blocks of `block` by position; each block's
    unselected tokens U contribute log|U| + scale q.mu + scale^2
    (q*q).var / 2 (mu, var: their key mean and per-channel variance) to the
    LSE and their value mean to the output; with `exact_mass` (True, or the
    KV heads it applies to) the LSE of their exact scores instead.
    (output [B, Hq, Dv], LSE)."""
    batch, q_heads, dim = q.shape
    kv_heads = k.shape[1]
    group = q_heads // kv_heads
    scale = 1.0 / np.sqrt(dim) if scale is None else scale
    out = np.zeros((batch, q_heads, v.shape[3]))
    lse = np.full((batch, q_heads), NEG_INF)
    for b in range(batch):
        n = int(lengths[b])
        for hk in range(kv_heads):
            chosen = selected[(b, hk)]
            blocks = []
            for start in range(0, n, block):
                left = [t for t in range(start, min(start + block, n))
                        if t not in chosen]
                if left:
                    keys = k[b, hk, left]
                    blocks.append((len(left), keys.mean(0), keys.var(0),
                                   v[b, hk, left].mean(0), keys))
            if not blocks:
                continue
            exact = exact_mass if isinstance(exact_mass, bool) else \
                hk in exact_mass
            for h in range(hk * group, (hk + 1) * group):
                if exact:
                    logs = []
                    for *_, keys in blocks:
                        s = keys @ q[b, h] * scale
                        logs.append(s.max() + np.log(np.exp(s - s.max()).sum()))
                    logs = np.array(logs)
                else:
                    logs = np.array([np.log(c) + scale * (q[b, h] @ mu)
                                     + 0.5 * scale ** 2 * ((q[b, h] ** 2) @ var)
                                     for c, mu, var, _, _ in blocks])
                m = logs.max()
                w = np.exp(logs - m)
                out[b, h] = w @ np.stack([b_[3] for b_ in blocks]) / w.sum()
                lse[b, h] = m + np.log(w.sum())
    return out, lse


def policy_host_sets(policy, q, keys, budget, sink, window, block=16, tau=0.9,
                     channels=4):
    """Per (b, KV head) the absolute host positions `policy` (hgca, quest,
    hca with int8 codes, sparf) attends at `budget` (an int count or a
    fraction), float64."""
    batch, q_heads, _ = q.shape
    kv_heads, n = keys.shape[1], keys.shape[2]
    group = q_heads // kv_heads
    host = list(range(sink, n - window))
    if policy == "hca":
        _, sets = hca_decode(q, keys, keys, [n] * batch, sink, window,
                                 budget, tau)
        return sets
    if policy == "sparf":
        _, sets, _ = sparf_decode(q, keys, keys, [n] * batch, sink, window,
                                      budget, channels)
        return {key: sets[key + (1,)] for key in
                ((b, hk) for b in range(batch) for hk in range(kv_heads))}
    sets = {}
    for b in range(batch):
        for hk in range(kv_heads):
            qg = q[b:b + 1, hk * group:(hk + 1) * group]
            if policy == "hgca":
                count = budget if isinstance(budget, int) else int(
                    np.ceil(budget * len(host)))
                scores = select_scores(qg, keys[b:b + 1, hk:hk + 1,
                                                    host])[0, 0]
                sets[(b, hk)] = [host[i] for i in top_set(scores, count)]
            else:  # quest
                units = [host[i:i + block] for i in range(0, len(host), block)]
                lo = np.stack([keys[b, hk, u].min(0) for u in units])
                hi = np.stack([keys[b, hk, u].max(0) for u in units])
                scores = block_scores(qg, lo[None, None],
                                          hi[None, None])[0, 0]
                count = -(-budget // block) if isinstance(budget, int) else \
                    int(np.ceil(budget * len(units)))
                sets[(b, hk)] = [t for i in top_set(scores, count)
                                 for t in units[i]]
    return sets


def fluxion_host_sets(q, keys, budgets, sink, window):
    """Per (b, KV head) the host positions of fluxion's calibrated budgets
    (objects with .fraction and .block: each head's own exact top tokens,
    or Quest blocks, at its fraction of the host tokens or blocks)."""
    batch, q_heads, _ = q.shape
    n = keys.shape[2]
    host = list(range(sink, n - window))
    group = q_heads // keys.shape[1]
    sets = {}
    for b in range(batch):
        for hk, budget in enumerate(budgets):
            qg = q[b:b + 1, hk * group:(hk + 1) * group]
            if budget.block == 1:
                count = int(np.ceil(budget.fraction * len(host) - 1e-9))
                scores = select_scores(qg, keys[b:b + 1, hk:hk + 1, host])[0, 0]
                sets[(b, hk)] = [host[i] for i in top_set(scores, count)]
                continue
            units = [host[i:i + budget.block]
                     for i in range(0, len(host), budget.block)]
            lo = np.stack([keys[b, hk, u].min(0) for u in units])
            hi = np.stack([keys[b, hk, u].max(0) for u in units])
            scores = block_scores(qg, lo[None, None], hi[None, None])[0, 0]
            count = int(np.ceil(budget.fraction * len(units) - 1e-9))
            sets[(b, hk)] = [t for i in top_set(scores, count) for t in units[i]]
    return sets
