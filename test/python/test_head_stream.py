"""HeadInfer's head-wise residency through the runtime's head stream
(hgc-rt/head_stream.h, `hgc_jit.HeadStream`): chosen KV heads whole on the
device, the others streamed per layer one head group at a time (double
buffered, the next layer's first group prefetched), their pages per head
group spilling host -> far -> storage. A decode loop over two layers is
exact against float64 at every step (2e-5: inputs are exact in f32, only
float32 accumulation differs) for f32, f16 and bf16, with 0, 1 and 3
resident heads of 4 under grouped-query attention; prefetches are used;
the streamed bytes are the cold tokens of the streamed heads; every token
reads back bit-exactly; bad configurations are errors naming the value.
"""
import sys

import numpy as np
import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "jit" / "python"))
import hgc_jit  # noqa: E402
from test_jit import to_numpy_kv as as_stored  # noqa: E402

KV_HEADS, Q_HEADS, DIM, LAYERS = 4, 8, 32, 2
SINK, WINDOW, PAGE = 4, 32, 16


def attention(q, k, v, scale):
    """float64 decode attention: q [Hq, D], k/v [Hkv, T, D]."""
    group = q.shape[0] // k.shape[0]
    out = np.empty((q.shape[0], v.shape[2]))
    lse = np.empty(q.shape[0])
    for h in range(q.shape[0]):
        s = k[h // group] @ q[h].astype(np.float64) * scale
        m = s.max()
        p = np.exp(s - m)
        out[h] = p @ v[h // group] / p.sum()
        lse[h] = m + np.log(p.sum())
    return out, lse


@pytest.mark.parametrize("dtype", ["f32", "f16", "bf16"])
@pytest.mark.parametrize("resident", [(), (2,), (0, 1, 3)])
def test_decode_loop_is_exact(tmp_path, dtype, resident):
    rng = np.random.default_rng(len(resident) * 7 + len(dtype))
    stream = hgc_jit.HeadStream(
        LAYERS, KV_HEADS, DIM, resident_heads=resident, group_heads=1,
        kv_dtype=dtype, page_tokens=PAGE, sink=SINK, window=WINDOW,
        host_pages=3, far_pages=2, storage_dir=str(tmp_path))
    stream.add_sequence(11)
    exact_k = [None] * LAYERS
    exact_v = [None] * LAYERS
    stored_k = [None] * LAYERS
    stored_v = [None] * LAYERS

    def append(layer, tokens):
        k, ek = as_stored(rng.standard_normal((KV_HEADS, tokens, DIM)), dtype)
        v, ev = as_stored(rng.standard_normal((KV_HEADS, tokens, DIM)), dtype)
        stream.append(11, layer, k, v)
        for kept, new in ((exact_k, ek), (exact_v, ev), (stored_k, k),
                          (stored_v, v)):
            kept[layer] = new if kept[layer] is None else np.concatenate(
                [kept[layer], new], axis=1)

    for layer in range(LAYERS):
        append(layer, 180)  # 12 pages: sinks and window hot, 6 spill far on
    scale = 1.0 / np.sqrt(DIM)
    prefetched = 0
    for _ in range(12):
        for layer in range(LAYERS):
            append(layer, 1)
            q = rng.standard_normal((Q_HEADS, DIM)).astype(np.float32)
            out, lse, step = stream.attend(11, layer, q,
                                           next_layer=(layer + 1) % LAYERS)
            want, want_lse = attention(q, exact_k[layer], exact_v[layer],
                                       scale)
            np.testing.assert_allclose(out, want, atol=2e-5, rtol=0)
            np.testing.assert_allclose(lse, want_lse, atol=2e-5, rtol=0)
            prefetched += step.prefetched
            # The streamed heads' tokens outside sinks and window.
            tokens = exact_k[layer].shape[1]
            hot = {p for p in range(-(-tokens // PAGE))
                   if p * PAGE < SINK or min(p * PAGE + PAGE, tokens) >
                   tokens - WINDOW}
            cold = sum(min(PAGE, tokens - p * PAGE)
                       for p in range(-(-tokens // PAGE)) if p not in hot)
            element = 4 if dtype == "f32" else 2
            assert step.streamed_bytes == \
                2 * cold * DIM * element * (KV_HEADS - len(resident))
    # Every page boundary the window crosses voids one prefetch; the rest
    # of the 24 steps use theirs (the very first has none).
    assert prefetched >= 16
    for layer in range(LAYERS):
        k, v = stream.read(11, layer, 0, stored_k[layer].shape[1])
        assert np.array_equal(k, stored_k[layer])
        assert np.array_equal(v, stored_v[layer])


def test_serial_and_double_buffered_steps_agree():
    rng = np.random.default_rng(3)
    k = rng.standard_normal((KV_HEADS, 300, DIM)).astype(np.float32)
    v = rng.standard_normal((KV_HEADS, 300, DIM)).astype(np.float32)
    q = rng.standard_normal((Q_HEADS, DIM)).astype(np.float32)
    results = []
    for double_buffer in (True, False):
        stream = hgc_jit.HeadStream(LAYERS, KV_HEADS, DIM, resident_heads=(3,),
                                    group_heads=3, page_tokens=PAGE, sink=SINK,
                                    window=WINDOW, double_buffer=double_buffer,
                                    link_bandwidth_gbs=8.0)
        stream.add_sequence(0)
        stream.append(0, 0, k, v)
        out, lse, step = stream.attend(0, 0, q)
        assert step.streamed_groups == 1
        assert step.copy_seconds > 0
        results.append((out, lse))
    assert np.array_equal(results[0][0], results[1][0])
    assert np.array_equal(results[0][1], results[1][1])


@pytest.mark.parametrize("kwargs,message", [
    (dict(resident_heads=(4,)), "resident head 4 is not in [0, 4)"),
    (dict(resident_heads=(1, 1)), "resident head 1 is listed twice"),
    (dict(group_heads=3), "group_heads (3) must divide the 4 streamed"),
    (dict(page_tokens=12), "page_tokens must be a positive power of two"),
    (dict(link_bandwidth_gbs=float("inf")), "link_bandwidth_gbs must be"),
])
def test_bad_configurations_are_errors(kwargs, message):
    with pytest.raises(hgc_jit.Error) as error:
        hgc_jit.HeadStream(LAYERS, KV_HEADS, DIM, **kwargs)
    assert message in str(error.value)


def test_bad_calls_are_errors():
    stream = hgc_jit.HeadStream(LAYERS, KV_HEADS, DIM, resident_heads=(0,),
                                group_heads=3, page_tokens=PAGE)
    with pytest.raises(hgc_jit.Error, match="unknown sequence 5"):
        stream.attend(5, 0, np.zeros((Q_HEADS, DIM), np.float32))
    stream.add_sequence(5)
    with pytest.raises(ValueError, match="must be"):
        stream.append(5, 0, np.zeros((3, 2, DIM)), np.zeros((3, 2, DIM)))
    with pytest.raises(hgc_jit.Error, match="HGC_SHAPE_MISMATCH"):
        stream.attend(5, 0, np.ones((6, DIM), np.float32))
    with pytest.raises(hgc_jit.Error, match="next_layer 2"):
        stream.attend(5, 0, np.ones((Q_HEADS, DIM), np.float32),
                      next_layer=2)
