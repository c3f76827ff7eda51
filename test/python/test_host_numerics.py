"""Split-level ops lowered to host loops, checked against float64 numpy.

Each case builds a small @main, runs it through convert-hgc-to-loops and the
host pipeline (hgc-runner), and compares with reference.py. Inputs are random
normal draws, never zeros. Tolerances: outputs and LSEs atol 2e-5 + rtol 1e-4
(f32 accumulation over at most a few hundred terms of values hgc reads
exactly: f16/bf16 references use the rounded values).
"""
import numpy as np
import pytest

import reference as ref

ATOL, RTOL = 2e-5, 1e-4
MLIR_TYPE = {"float32": "f32", "float16": "f16", "bf16": "bf16"}


def tensor(shape, elt):
    return "tensor<" + "x".join(str(d) for d in shape) + f"x{elt}>"


def partial_program(b, hq, hkv, t, d, elt, k=None, block=1, attrs=""):
    q, kv = tensor((b, hq, d), "f32"), tensor((b, hkv, t, d), elt)
    o, l, n = tensor((b, hq, d), "f32"), tensor((b, hq), "f32"), tensor((b,), "i32")
    if k is None:
        return f"""
func.func @main(%q: {q}, %k: {kv}, %v: {kv}, %n: {n}) -> ({o}, {l}) {{
  %o, %l = hgc.partial_attention %q, %k, %v lengths(%n) {attrs}
      : ({q}, {kv}, {kv}, {n}) -> ({o}, {l})
  return %o, %l : {o}, {l}
}}"""
    i = tensor((b, hkv, k), "i32")
    return f"""
func.func @main(%q: {q}, %k: {kv}, %v: {kv}, %n: {n}, %i: {i}) -> ({o}, {l}) {{
  %o, %l = hgc.partial_attention %q, %k, %v indices(%i) lengths(%n)
      {{block_size = {block} : i64}} : ({q}, {kv}, {kv}, {i}, {n}) -> ({o}, {l})
  return %o, %l : {o}, {l}
}}"""


@pytest.mark.parametrize("dtype", ["float32", "float16", "bf16"])
@pytest.mark.parametrize("heads", [(4, 4), (8, 2), (6, 1)],
                         ids=["mha", "gqa4", "mqa"])
def test_partial_dense(hgc_runner, tmp_path, dtype, heads):
    rng = np.random.default_rng(hash((dtype, heads)) % 2**32)
    b, (hq, hkv), t, d = 3, heads, 37, 16
    q = rng.standard_normal((b, hq, d)).astype(np.float32)
    k_in, k = ref.as_kv(rng.standard_normal((b, hkv, t, d)), dtype if dtype != "float32" else np.float32)
    v_in, v = ref.as_kv(rng.standard_normal((b, hkv, t, d)), dtype if dtype != "float32" else np.float32)
    lengths = np.array([37, 20, 1], np.int32)
    out, lse = ref.run_hgc(hgc_runner, tmp_path,
                           partial_program(b, hq, hkv, t, d, MLIR_TYPE[dtype]),
                           [q, k_in, v_in, lengths])
    want_out, want_lse = ref.partial_attention(q.astype(np.float64), k, v, lengths)
    np.testing.assert_allclose(out, want_out, atol=ATOL, rtol=RTOL)
    np.testing.assert_allclose(lse, want_lse, atol=ATOL, rtol=RTOL)


def test_partial_scale_softcap(hgc_runner, tmp_path):
    rng = np.random.default_rng(7)
    b, hq, hkv, t, d = 2, 4, 2, 25, 8
    q = (3 * rng.standard_normal((b, hq, d))).astype(np.float32)
    k = rng.standard_normal((b, hkv, t, d)).astype(np.float32)
    v = rng.standard_normal((b, hkv, t, d)).astype(np.float32)
    lengths = np.array([25, 9], np.int32)
    program = partial_program(b, hq, hkv, t, d, "f32",
                              attrs="{scale = 0.75 : f32, softcap = 2.5 : f32}")
    out, lse = ref.run_hgc(hgc_runner, tmp_path, program, [q, k, v, lengths])
    want = ref.partial_attention(*(x.astype(np.float64) for x in (q, k, v)),
                                 lengths, scale=0.75, softcap=2.5)
    np.testing.assert_allclose(out, want[0], atol=ATOL, rtol=RTOL)
    np.testing.assert_allclose(lse, want[1], atol=ATOL, rtol=RTOL)


@pytest.mark.parametrize("block", [1, 4])
def test_partial_indices(hgc_runner, tmp_path, block):
    rng = np.random.default_rng(block)
    b, hq, hkv, t, d, k_sel = 2, 8, 2, 40, 16, 5
    q = rng.standard_normal((b, hq, d)).astype(np.float32)
    k = rng.standard_normal((b, hkv, t, d)).astype(np.float32)
    v = rng.standard_normal((b, hkv, t, d)).astype(np.float32)
    lengths = np.array([40, 30], np.int32)
    candidates = t // block
    idx = np.stack([np.stack([rng.permutation(candidates)[:k_sel]
                              for _ in range(hkv)]) for _ in range(b)])
    idx = idx.astype(np.int32)
    idx[0, 1, 2] = -1   # padding is skipped
    idx[1, 0, :] = -1   # a KV head with nothing selected: empty rows
    out, lse = ref.run_hgc(hgc_runner, tmp_path,
                           partial_program(b, hq, hkv, t, d, "f32", k_sel, block),
                           [q, k, v, lengths, idx])
    want = ref.partial_attention(*(x.astype(np.float64) for x in (q, k, v)),
                                 lengths, idx, block)
    np.testing.assert_allclose(out, want[0], atol=ATOL, rtol=RTOL)
    np.testing.assert_allclose(lse, want[1], atol=ATOL, rtol=RTOL)
    assert np.all(out[1, :4] == 0) and np.all(np.isneginf(lse[1, :4]))
    assert not np.isnan(out).any()


@pytest.mark.parametrize("budget", ["{k = 6 : i64}", "{fraction = 0.3 : f64}"])
def test_select_exact_topk(hgc_runner, tmp_path, budget):
    rng = np.random.default_rng(11)
    b, hq, hkv, t, d = 3, 8, 2, 30, 16
    q = rng.standard_normal((b, hq, d)).astype(np.float32)
    k = rng.standard_normal((b, hkv, t, d)).astype(np.float32)
    lengths = np.array([30, 12, 3], np.int32)
    width = "6" if "k =" in budget else "?"
    qt, kt, it = tensor((b, hq, d), "f32"), tensor((b, hkv, t, d), "f32"), \
        f"tensor<{b}x{hkv}x{width}xi32>"
    program = f"""
func.func @main(%q: {qt}, %k: {kt}, %n: tensor<{b}xi32>) -> {it} {{
  %i = hgc.select exact_topk %q, %k lengths(%n) {budget}
      : ({qt}, {kt}, tensor<{b}xi32>) -> {it}
  return %i : {it}
}}"""
    (indices,) = ref.run_hgc(hgc_runner, tmp_path, program, [q, k, lengths])
    scores = ref.select_scores(q.astype(np.float64), k.astype(np.float64))
    keep = [6 if "k =" in budget else int(np.ceil(0.3 * n)) for n in lengths]
    assert indices.shape[2] == max(min(kk, n) if "k =" not in budget else kk
                                   for kk, n in zip(keep, lengths))
    for bi in range(b):
        n, count = lengths[bi], min(keep[bi], lengths[bi])
        for hk in range(hkv):
            # The op promises the top set, not an order.
            want = np.argsort(-scores[bi, hk, :n], kind="stable")[:count]
            np.testing.assert_array_equal(np.sort(indices[bi, hk, :count]),
                                          np.sort(want))
            assert np.all(indices[bi, hk, count:] == -1)


def select_program(policy, b, hq, hkv, t, d, elt, budget, width):
    qt, kt = tensor((b, hq, d), "f32"), tensor((b, hkv, t, d), elt)
    it = f"tensor<{b}x{hkv}x{width}xi32>"
    inputs = f"%k" if policy == "exact_topk" else "%k, %k2"
    types = kt if policy == "exact_topk" else f"{kt}, {kt}"
    args = f"%k: {kt}" + ("" if policy == "exact_topk" else f", %k2: {kt}")
    return f"""
func.func @main(%q: {qt}, {args}, %n: tensor<{b}xi32>) -> {it} {{
  %i = hgc.select {policy} %q, {inputs} lengths(%n) {budget}
      : ({qt}, {types}, tensor<{b}xi32>) -> {it}
  return %i : {it}
}}"""


def test_select_ties_and_long_rows(hgc_runner, tmp_path):
    """Thousands of candidates over every radix digit, most scores tied
    (keys drawn from 40 rows): the top set is exact, ties go to the lower
    index, and the chosen tokens come out in ascending order."""
    rng = np.random.default_rng(5)
    b, hq, hkv, t, d = 2, 8, 2, 5000, 16
    q = rng.standard_normal((b, hq, d)).astype(np.float32)
    pool = rng.standard_normal((40, d)).astype(np.float32)
    k = pool[rng.integers(0, 40, (b, hkv, t))]
    lengths = np.array([5000, 3111], np.int32)
    program = select_program("exact_topk", b, hq, hkv, t, d, "f32",
                             "{k = 333 : i64}", 333)
    (indices,) = ref.run_hgc(hgc_runner, tmp_path, program, [q, k, lengths])
    scores = ref.select_scores(q.astype(np.float64), k.astype(np.float64))
    for bi in range(b):
        for hk in range(hkv):
            # Tied f32 keys are bit-identical rows: equal scores in hgc too.
            want = ref.top_set(scores[bi, hk, :lengths[bi]], 333)
            np.testing.assert_array_equal(indices[bi, hk], want)


@pytest.mark.parametrize("elt", ["float32", "float16"])
def test_select_block_topk(hgc_runner, tmp_path, elt):
    """Block selection from per-block key min/max: the blocks whose
    upper-bound score is highest, ascending, -1 past a short row."""
    rng = np.random.default_rng(9)
    b, hq, hkv, blocks, d, block = 2, 8, 2, 300, 16, 16
    q = rng.standard_normal((b, hq, d)).astype(np.float32)
    k_in, k = ref.as_kv(rng.standard_normal((b, hkv, blocks * block, d)),
                        elt if elt != "float32" else np.float32)
    lo, hi = ref.block_summaries(k, block)
    lo_in, hi_in = lo.astype(k_in.dtype), hi.astype(k_in.dtype)
    lengths = np.array([300, 7], np.int32)
    program = select_program("block_topk", b, hq, hkv, blocks, d,
                             MLIR_TYPE[elt],
                             "{k = 12 : i64, block_size = 16 : i64}", 12)
    (indices,) = ref.run_hgc(hgc_runner, tmp_path, program,
                             [q, lo_in, hi_in, lengths])
    scores = ref.block_scores(q.astype(np.float64), lo, hi)
    for bi in range(b):
        for hk in range(hkv):
            count = min(12, lengths[bi])
            want = ref.top_set(scores[bi, hk, :lengths[bi]], count)
            np.testing.assert_array_equal(indices[bi, hk, :count], want)
            assert np.all(indices[bi, hk, count:] == -1)


def test_lse_merge(hgc_runner, tmp_path):
    rng = np.random.default_rng(5)
    shape = (2, 6, 16)
    outs = [rng.standard_normal(shape).astype(np.float32) for _ in range(3)]
    lses = [(3 * rng.standard_normal(shape[:2])).astype(np.float32)
            for _ in range(3)]
    lses[1][0, 1] = -np.inf             # one empty partial
    for part in range(3):
        lses[part][1, 2] = -np.inf      # every partial empty
    o, l = tensor(shape, "f32"), tensor(shape[:2], "f32")
    program = f"""
func.func @main(%o0: {o}, %o1: {o}, %o2: {o}, %l0: {l}, %l1: {l}, %l2: {l})
    -> ({o}, {l}) {{
  %o, %l = hgc.lse_merge %o0, %o1, %o2 lse %l0, %l1, %l2 : {o}, {l}
  return %o, %l : {o}, {l}
}}"""
    out, lse = ref.run_hgc(hgc_runner, tmp_path, program, outs + lses)
    want = ref.lse_merge([x.astype(np.float64) for x in outs],
                         [x.astype(np.float64) for x in lses])
    np.testing.assert_allclose(out, want[0], atol=ATOL, rtol=RTOL)
    np.testing.assert_allclose(lse, want[1], atol=ATOL, rtol=RTOL)
    assert np.all(out[1, 2] == 0) and np.isneginf(lse[1, 2])


def merge_program(parts, shape):
    o, l = tensor(shape, "f32"), tensor(shape[:-1], "f32")
    outs = ", ".join(f"%o{i}: {o}" for i in range(parts))
    lses = ", ".join(f"%l{i}: {l}" for i in range(parts))
    names_o = ", ".join(f"%o{i}" for i in range(parts))
    names_l = ", ".join(f"%l{i}" for i in range(parts))
    return f"""
func.func @main({outs}, {lses}) -> ({o}, {l}) {{
  %o, %l = hgc.lse_merge {names_o} lse {names_l} : {o}, {l}
  return %o, %l : {o}, {l}
}}"""


def test_merge_with_empty_partition_is_identity(hgc_runner, tmp_path):
    """An empty partition (LSE -inf) leaves the other exactly unchanged."""
    rng = np.random.default_rng(21)
    shape = (3, 4, 32)
    out = rng.standard_normal(shape).astype(np.float32)
    lse = (2 * rng.standard_normal(shape[:2])).astype(np.float32)
    empty_out = rng.standard_normal(shape).astype(np.float32)  # ignored
    empty_lse = np.full(shape[:2], -np.inf, np.float32)
    merged, merged_lse = ref.run_hgc(hgc_runner, tmp_path, merge_program(2, shape),
                                     [out, empty_out, lse, empty_lse])
    np.testing.assert_array_equal(merged, out)
    np.testing.assert_array_equal(merged_lse, lse)


def test_merge_order_does_not_matter(hgc_runner, tmp_path):
    rng = np.random.default_rng(22)
    shape = (2, 8, 64)
    outs = [rng.standard_normal(shape).astype(np.float32) for _ in range(4)]
    lses = [(4 * rng.standard_normal(shape[:2])).astype(np.float32)
            for _ in range(4)]
    program = merge_program(4, shape)
    first = ref.run_hgc(hgc_runner, tmp_path / "a", program, outs + lses)
    order = [2, 0, 3, 1]
    second = ref.run_hgc(hgc_runner, tmp_path / "b", program,
                         [outs[i] for i in order] + [lses[i] for i in order])
    # Equal up to float32 rounding of the sums.
    np.testing.assert_allclose(first[0], second[0], atol=1e-6, rtol=1e-6)
    np.testing.assert_allclose(first[1], second[1], atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("d, t, indexed, block", [
    (12, 4500, False, 1), (24, 5000, True, 1), (16, 9000, True, 32)],
    ids=["scalar-head-dim-splits", "indexed-splits", "whole-block-splits"])
def test_partial_split_k(hgc_runner, tmp_path, d, t, indexed, block):
    """Token ranges longer than one KV split (2048) run as parallel chunks
    merged by LSE; head dims that are no multiple of 8 take the scalar path.
    Selected blocks of whole 16-token blocks (32 here) are attended as token
    ranges: chunks of whole entries, a length that cuts a block, -1 entries
    and a short last block of the sequence."""
    rng = np.random.default_rng(d)
    b, hq, hkv = 2, 4, 2
    q = rng.standard_normal((b, hq, d)).astype(np.float32)
    k = rng.standard_normal((b, hkv, t, d)).astype(np.float32)
    v = rng.standard_normal((b, hkv, t, d)).astype(np.float32)
    lengths = np.array([t, t - 777], np.int32)
    args = [q, k, v, lengths]
    idx = None
    count = 3000 if block == 1 else 200
    if indexed:
        candidates = -(-t // block)
        idx = np.stack([np.stack([rng.permutation(candidates)[:count]
                                  for _ in range(hkv)]) for _ in range(b)])
        idx = idx.astype(np.int32)
        idx[0, 1, ::7] = -1
        args.append(idx)
    program = partial_program(b, hq, hkv, t, d, "f32",
                              count if indexed else None, block)
    out, lse = ref.run_hgc(hgc_runner, tmp_path, program, args)
    want = ref.partial_attention(*(x.astype(np.float64) for x in (q, k, v)),
                                 lengths, idx, block)
    np.testing.assert_allclose(out, want[0], atol=ATOL, rtol=RTOL)
    np.testing.assert_allclose(lse, want[1], atol=ATOL, rtol=RTOL)
