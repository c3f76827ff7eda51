"""Decode attention over candidates selected ahead (hgc.decode_attention
... preselected(...)): what ScoutAttention builds on, the host tier's blocks
chosen from a predicted query before the step and attended with the real
one. Checked against float64: blocks from the predicted query's Quest
scores over the host tier, exact attention with the real query over the
sinks, the window and those blocks; the predicted query equal to the real
one is Quest itself. Random normal inputs, f32 within 2e-5.
"""
import numpy as np
import pytest

import reference as ref

SINK, WINDOW, BLOCK, KEEP = 16, 32, 16, 3


def program(b, hq, hk, t, d):
    qt, kt = f"tensor<{b}x{hq}x{d}xf32>", f"tensor<{b}x{hk}x{t}x{d}xf32>"
    cache = f"!hgc.kv_cache<{hk}x{d}xf32>"
    it = f"tensor<{b}x{hk}x{KEEP}xi32>"
    st = f"tensor<{b}x{hk}x?x{d}xf32>"
    placement = (f"#hgc.placement<sink = {SINK}, window = {WINDOW}, tiers = "
                 f"[device = dense, host = block_topk(budget = {KEEP}, "
                 f"block = {BLOCK})]>")
    return f"""
func.func @main(%q: {qt}, %p: {qt}, %k: {kt}, %v: {kt}) -> {qt} {{
  %c = hgc.bind_kv %k, %v : {kt}, {kt} -> {cache}
  %lo, %hi, %n = hgc.kv_summaries %c tier host
      {{block_size = {BLOCK} : i64, placement = {placement}}}
      : {cache} -> {st}, {st}, tensor<{b}xi32>
  %i = hgc.select block_topk %p, %lo, %hi lengths(%n)
      {{k = {KEEP} : i64, block_size = {BLOCK} : i64}}
      : ({qt}, {st}, {st}, tensor<{b}xi32>) -> {it}
  %o = hgc.decode_attention %q, %c preselected(%i : {it})
      {{placement = {placement}}} : {qt}, {cache} -> {qt}
  return %o : {qt}
}}"""


def ahead_reference(q, p, k, v):
    """Blocks of the host tier (from the first host token) ranked by the
    predicted query's block upper bounds (max over the group), the top KEEP
    attended exactly with the real query beside the sinks and window."""
    b, hq, d = q.shape
    hk, t = k.shape[1], k.shape[2]
    group = hq // hk
    hot = list(range(SINK)) + list(range(t - WINDOW, t))
    host = list(range(SINK, t - WINDOW))
    blocks = [host[i:i + BLOCK] for i in range(0, len(host), BLOCK)]
    out = np.zeros((b, hq, d))
    for bi in range(b):
        for h in range(hk):
            lo = np.stack([k[bi, h, blk].min(0) for blk in blocks])
            hi = np.stack([k[bi, h, blk].max(0) for blk in blocks])
            scores = ref.block_scores(p[bi:bi + 1, h * group:(h + 1) * group],
                                      lo[None, None], hi[None, None])[0, 0]
            chosen = hot + [tok for i in ref.top_set(scores, KEEP)
                            for tok in blocks[i]]
            for qh in range(h * group, (h + 1) * group):
                out[bi, qh], _ = ref.attend(q[bi, qh], k[bi, h, chosen],
                                            v[bi, h, chosen])
    return out


@pytest.mark.parametrize("predicted", ["real", "other"])
def test_preselected_blocks_match_reference(hgc_runner, tmp_path, predicted):
    rng = np.random.default_rng(27)
    b, hq, hk, t, d = 2, 8, 2, 240, 16
    q = rng.standard_normal((b, hq, d)).astype(np.float32)
    p = q if predicted == "real" else \
        rng.standard_normal((b, hq, d)).astype(np.float32)
    k = rng.standard_normal((b, hk, t, d)).astype(np.float32)
    v = rng.standard_normal((b, hk, t, d)).astype(np.float32)
    (y,) = ref.run_hgc(hgc_runner, tmp_path, program(b, hq, hk, t, d),
                       [q, p, k, v], ["--split"])
    q64, p64, k64, v64 = (x.astype(np.float64) for x in (q, p, k, v))
    want = ahead_reference(q64, p64, k64, v64)
    np.testing.assert_allclose(y, want, atol=2e-5, rtol=2e-5)
    quest = ref.hybrid_decode(q64, k64, v64, [t] * b, SINK, WINDOW,
                              KEEP * BLOCK, block=BLOCK)
    gap = np.abs(want - quest).max()
    # The real query's own selection is Quest's; another query's differs.
    assert gap < 1e-9 if predicted == "real" else gap > 1e-3
