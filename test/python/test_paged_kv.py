"""Engine-owned paged KV (hgc_decode_paged, Kernel.decode_paged): caches of
fixed-size blocks in vLLM's NHD layout or the HND one, a block table per
sequence, read in place by the compiled kernels. Each case scatters random
KV into shuffled, non-contiguous blocks (the last one of each sequence
partly filled, spare blocks holding noise) and compares with the float64
reference over the same tokens (reference.py): atol 2e-5 on outputs of
unit-scale values. Bad tables are one-line errors that leave the caller's
outputs untouched."""
import ctypes
import pathlib
import sys

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "jit" / "python"))
import hgc_jit  # noqa: E402
import reference as ref  # noqa: E402

HEAD_DIM = 64
LENGTHS = [300, 37, 161]  # sequences of different lengths in one batch


@pytest.fixture(scope="module")
def context():
    return hgc_jit.Context(target="host", threads=2, cache_dir="")


def write_blocks(cache, values, table, lengths, block, layout):
    """`values` [batch, kv_heads, tokens, head_dim] into the blocks `table`
    lists for each sequence's `lengths` tokens."""
    for b, n in enumerate(lengths):
        for j in range(-(-n // block)):
            tokens = values[b, :, j * block:min(n, (j + 1) * block)]
            count = tokens.shape[1]
            if layout == "nhd":
                cache[table[b, j], :count] = tokens.transpose(1, 0, 2)
            else:
                cache[table[b, j], :, :count] = tokens
    return cache


def paged(values, lengths, block, layout, rng, spare=5):
    """`values` [batch, kv_heads, tokens, head_dim] scattered into shuffled
    blocks: (caches of every block, block table [batch, max_blocks] with
    -1 past each sequence's blocks). Blocks nobody uses hold noise."""
    batch, heads, _, dim = values.shape
    counts = [-(-n // block) for n in lengths]
    total = sum(counts) + spare
    ids = rng.permutation(total)
    table = np.full((batch, max(counts) + 2), -1, np.int32)
    for b, count in enumerate(counts):
        table[b, :count] = ids[sum(counts[:b]):sum(counts[:b]) + count]
    shape = (total, block, heads, dim) if layout == "nhd" else (
        total, heads, block, dim)
    cache = (100 * rng.standard_normal(shape)).astype(values.dtype)
    return write_blocks(cache, values, table, lengths, block, layout), table


def scatter_like(values, table, lengths, block, layout, like):
    """`values` into the blocks `table` already assigned (noise elsewhere)."""
    cache = np.random.default_rng(5).standard_normal(like.shape).astype(
        like.dtype)
    return write_blocks(cache, values, table, lengths, block, layout)


def step(context, q_heads, kv_heads, dtype, kv_block, layout, seed,
         **placement):
    """Runs one paged decode step; returns (outputs, float64 q, k, v)."""
    rng = np.random.default_rng(seed)
    tokens = max(LENGTHS)
    q = rng.standard_normal((len(LENGTHS), q_heads, HEAD_DIM)).astype(
        np.float32)
    raw_k = rng.standard_normal((len(LENGTHS), kv_heads, tokens, HEAD_DIM))
    raw_v = rng.standard_normal((len(LENGTHS), kv_heads, tokens, HEAD_DIM))
    kind = {"f32": np.float32, "f16": np.float16, "bf16": "bf16"}[dtype]
    k, k64 = ref.as_kv(raw_k.astype(np.float32), kind)
    v, v64 = ref.as_kv(raw_v.astype(np.float32), kind)
    k_cache, table = paged(k, LENGTHS, kv_block, layout, rng)
    v_cache = scatter_like(v, table, LENGTHS, kv_block, layout, k_cache)
    config = hgc_jit.AttentionConfig(q_heads, kv_heads, HEAD_DIM, dtype,
                                     kv_block_size=kv_block, kv_layout=layout,
                                     **placement)
    kernel = context.compile(config)
    out, stats = kernel.decode_paged(k_cache, v_cache, table,
                                     np.array(LENGTHS, np.int32), q)
    return out, stats, q.astype(np.float64), k64, v64


@pytest.mark.parametrize("block,layout,dtype,q_heads,kv_heads", [
    (16, "nhd", "f16", 8, 2),     # GQA 4
    (32, "hnd", "f32", 8, 8),     # MHA (group 1)
    (64, "nhd", "bf16", 8, 1),    # GQA 8
    (128, "hnd", "f16", 8, 2),    # a block longer than a short sequence
    (16, "hnd", "bf16", 16, 4),
    (64, "nhd", "f32", 16, 2)])
def test_dense_equals_reference(context, block, layout, dtype, q_heads,
                                kv_heads):
    out, stats, q, k, v = step(context, q_heads, kv_heads, dtype, block,
                               layout, seed=block + q_heads, policy="full")
    want = ref.hybrid_decode(q, k, v, LENGTHS, 0, 10**9, 0)
    np.testing.assert_allclose(out, want, atol=2e-5, rtol=0)
    assert stats.tokens[0] == sum(LENGTHS) and stats.tokens[1] == 0
    # Nothing but queries and outputs moves: the KV is read in place.
    assert stats.bytes_moved == 2 * out.size * 4


@pytest.mark.parametrize("layout", ["nhd", "hnd"])
@pytest.mark.parametrize("policy,budget,block", [
    ("hgca", "0.25", None), ("hgca", "1.0", None), ("quest", "1.0", 16),
    ("quest", "0.3", 32)])
def test_hybrid_equals_reference(context, layout, policy, budget, block):
    """Sinks and window gathered, the host tier selected and attended in
    place: the same tokens as the reference selects; full budget exact."""
    placement = dict(policy=policy, sink=4, window=16, budget=budget)
    if block:
        placement["block"] = block
    out, stats, q, k, v = step(context, 8, 2, "f16", 16, layout, seed=7,
                               **placement)
    fraction = float(budget)
    want = ref.hybrid_decode(q, k, v, LENGTHS, 4, 16, fraction, block=block)
    np.testing.assert_allclose(out, want, atol=2e-5, rtol=0)
    hot = [min(n, 20) for n in LENGTHS]
    assert stats.tokens[0] == sum(hot)
    assert stats.tokens[1] == sum(LENGTHS) - sum(hot)


def one_sequence(context, layout, seed):
    """40 tokens in `layout` blocks of 16, a query, and a full-policy NHD
    kernel: (k_cache, block table, queries, lengths, kernel)."""
    rng = np.random.default_rng(seed)
    k = rng.standard_normal((1, 2, 40, HEAD_DIM)).astype(np.float16)
    k_cache, table = paged(k, [40], 16, layout, rng)
    q = rng.standard_normal((1, 8, HEAD_DIM)).astype(np.float32)
    kernel = context.compile(hgc_jit.AttentionConfig(
        8, 2, HEAD_DIM, "f16", policy="full", kv_block_size=16))
    return k_cache, table, q, np.array([40], np.int32), kernel


def test_dlpack_inputs_are_not_copied(context):
    """Objects that only speak DLPack (a torch tensor's protocol) are read
    through np.from_dlpack: same memory, same result."""
    class DLPackOnly:
        def __init__(self, array):
            self.array = array

        def __dlpack__(self, **kwargs):
            return self.array.__dlpack__(**kwargs)

        def __dlpack_device__(self):
            return self.array.__dlpack_device__()

    k_cache, table, q, lengths, kernel = one_sequence(context, "nhd", 3)
    assert np.shares_memory(np.from_dlpack(DLPackOnly(k_cache)), k_cache)
    got, _ = kernel.decode_paged(DLPackOnly(k_cache), DLPackOnly(k_cache),
                                 DLPackOnly(table), DLPackOnly(lengths), q)
    want, _ = kernel.decode_paged(k_cache, k_cache, table, lengths, q)
    np.testing.assert_array_equal(got, want)


def run_raw(kernel, k_cache, table, lengths, q, out):
    """hgc_decode_paged through the C API into `out`; (status, message)."""
    kv = hgc_jit._PagedKV(k_cache.ctypes.data, k_cache.ctypes.data,
                          k_cache.shape[0], table.ctypes.data, table.shape[1],
                          lengths.ctypes.data)
    status = hgc_jit._lib.hgc_decode_paged(
        kernel._handle, ctypes.byref(kv), len(lengths), q.ctypes.data,
        out.ctypes.data, None)
    return status, hgc_jit._lib.hgc_last_error().decode()


@pytest.mark.parametrize("change,words", [
    (lambda t, n: t.__setitem__((1, 1), 999), "block_tables[1][1] = 999"),
    (lambda t, n: t.__setitem__((0, 0), -3), "block_tables[0][0] = -3"),
    (lambda t, n: n.__setitem__(1, 10_000), "seq_len 10000"),
    (lambda t, n: n.__setitem__(0, 0), "seq_len 0")])
def test_bad_tables_are_one_line_errors(context, change, words):
    rng = np.random.default_rng(4)
    k = rng.standard_normal((2, 2, 40, HEAD_DIM)).astype(np.float16)
    k_cache, table = paged(k, [40, 33], 16, "nhd", rng)
    lengths = np.array([40, 33], np.int32)
    change(table, lengths)
    q = rng.standard_normal((2, 8, HEAD_DIM)).astype(np.float32)
    kernel = context.compile(hgc_jit.AttentionConfig(
        8, 2, HEAD_DIM, "f16", policy="full", kv_block_size=16))
    out = np.full_like(q, 7.0)
    status, message = run_raw(kernel, k_cache, table, lengths, q, out)
    assert status != 0 and words in message and "\n" not in message, message
    assert (out == 7.0).all()


def test_mismatches_are_errors(context):
    """A cache of the wrong layout or dtype, a kernel of the other kind."""
    k_cache, table, q, lengths, nhd = one_sequence(context, "hnd", 6)
    with pytest.raises(hgc_jit.Error, match=r"k_cache \(\d+, 2, 16, 64\)"):
        nhd.decode_paged(k_cache, k_cache, table, lengths, q)
    with pytest.raises(hgc_jit.Error, match="float16"):
        nhd.decode_paged(k_cache.astype(np.float32), k_cache, table, lengths,
                         q)
    runtime = context.compile(hgc_jit.AttentionConfig(
        8, 2, HEAD_DIM, "f16", policy="full"))
    out = np.zeros_like(q)
    status, message = run_raw(runtime, k_cache, table, lengths, q, out)
    assert status != 0 and "kv_block_size" in message, message
    with pytest.raises(hgc_jit.Error, match="power of two"):
        context.compile(hgc_jit.AttentionConfig(
            8, 2, HEAD_DIM, "f16", policy="full", kv_block_size=24))


@pytest.mark.parametrize("layout", ["nhd", "hnd"])
def test_quest_reads_engine_summaries(context, layout):
    """kv_summaries: quest selects host blocks from the engine's per-block
    key min/max (over each sequence's own tokens) instead of reading every
    key; the result equals the reference choosing from the same summaries.
    Summaries that disagree with the keys change the choice, so they are
    what is read."""
    block, sink = 16, 16
    rng = np.random.default_rng(11)
    tokens = max(LENGTHS)
    q = rng.standard_normal((len(LENGTHS), 8, HEAD_DIM)).astype(np.float32)
    k = rng.standard_normal((len(LENGTHS), 2, tokens, HEAD_DIM)).astype(
        np.float16)
    v = rng.standard_normal(k.shape).astype(np.float16)
    k_cache, table = paged(k, LENGTHS, 16, layout, rng)
    v_cache = scatter_like(v, table, LENGTHS, 16, layout, k_cache)
    blocks = -(-tokens // block)
    lo = np.zeros((len(LENGTHS), 2, blocks, HEAD_DIM), np.float16)
    hi = np.zeros_like(lo)
    for b, n in enumerate(LENGTHS):
        for j in range(-(-n // block)):
            part = k[b, :, j * block:min(n, (j + 1) * block)]
            lo[b, :, j], hi[b, :, j] = part.min(1), part.max(1)
    kernel = context.compile(hgc_jit.AttentionConfig(
        8, 2, HEAD_DIM, "f16", policy="quest", sink=sink, window=16,
        budget="0.25", block=block, kv_block_size=16, kv_layout=layout,
        kv_summaries=True))
    lengths = np.array(LENGTHS, np.int32)
    q64, k64, v64 = (x.astype(np.float64) for x in (q, k, v))
    outs = []
    for summaries in ((lo, hi), (hi, hi)):  # the second: not the keys'
        out, _ = kernel.decode_paged(k_cache, v_cache, table, lengths, q,
                                     *summaries)
        want = ref.hybrid_decode(
            q64, k64, v64, LENGTHS, sink, 16, 0.25, block=block,
            summaries=tuple(s.astype(np.float64) for s in summaries))
        np.testing.assert_allclose(out, want, atol=2e-5, rtol=0)
        outs.append(out)
    assert np.abs(outs[0] - outs[1]).max() > 1e-3
    with pytest.raises(hgc_jit.Error, match="key_min"):
        kernel.decode_paged(k_cache, v_cache, table, lengths, q)


@pytest.mark.parametrize("layout", ["nhd", "hnd"])
@pytest.mark.parametrize("host_capacity", [0, 24])
def test_sparf_equals_reference(context, layout, host_capacity):
    """sparf scores, attends and averages the cold tiers' tokens where the
    engine's blocks hold them (host and, past host_capacity, storage)."""
    placement = dict(policy="sparf", sink=4, window=16, budget="0.25",
                     channels=8, host_capacity=host_capacity)
    out, stats, q, k, v = step(context, 8, 2, "f16", 16, layout, seed=8,
                               **placement)
    want, _, _ = ref.sparf_decode(q, k, v, LENGTHS, 4, 16, 0.25, 8,
                                  host_capacity)
    np.testing.assert_allclose(out, want, atol=2e-5, rtol=0)
