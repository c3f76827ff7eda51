"""The vLLM integration's core (integrations/vllm/hgc_vllm/paged.py) on
vLLM's data layouts, against float64 numpy.

A layer's cache is vLLM v1's kv_cache[2, num_blocks, block_size,
num_kv_heads, head_size]; prompts are written through slot_mapping
(reshape_and_cache, padding slots -1 skipped) into blocks a shuffled block
table hands out, then each decode step writes its token and attends. Dense
("full") equals exact attention (f32 2e-5, f16 2e-3, bf16 1.5e-2); hgca
equals HGCA's reference (sink + window dense, exact top-k of the rest).
vLLM itself (the backend classes in hgc_vllm/backend.py) needs a GPU or a
CPU build of vLLM, neither installable here: docs/engines.md has the
command for a full run.
"""
import sys

import numpy as np
import pytest

import reference as ref
from conftest import ROOT

sys.path.insert(0, str(ROOT / "integrations" / "vllm"))
sys.path.insert(0, str(ROOT / "jit" / "python"))
import hgc  # noqa: E402
import hgc_vllm  # noqa: E402

TOLERANCE = {"f32": 2e-5, "f16": 2e-3, "bf16": 1.5e-2}
STORED = {"f32": np.float32, "f16": np.float16, "bf16": np.uint16}


def stored(x, dtype):
    """float64 values in the cache's type, and the values it holds."""
    if dtype == "bf16":
        bits = (x.astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)
        return bits, ref.bf16_to_float(bits)
    held = x.astype(STORED[dtype])
    return held, held.astype(np.float64)


class Engine:
    """What vLLM's scheduler and block manager do for one layer."""

    def __init__(self, rng, decoder, num_blocks, dtype):
        self.rng, self.decoder, self.dtype = rng, decoder, dtype
        d = decoder
        self.kv_cache = np.zeros((2, num_blocks, d.block_size,
                                  d.num_kv_heads, d.head_size),
                                 STORED[dtype])
        self.free = list(rng.permutation(num_blocks))
        self.tables, self.keys, self.values = [], [], []

    def slots(self, request, positions):
        table, bs = self.tables[request], self.decoder.block_size
        while len(table) * bs <= max(positions):
            table.append(self.free.pop())
        return [table[p // bs] * bs + p % bs for p in positions]

    def append(self, requests_and_counts):
        """Writes `count` new tokens per request in one step (with a padding
        row between requests, as a CUDA-graph-padded batch has)."""
        d = self.decoder
        slots, keys, values = [], [], []
        for request, count in requests_and_counts:
            if request == len(self.tables):
                self.tables.append([])
                self.keys.append(np.zeros((d.num_kv_heads, 0, d.head_size)))
                self.values.append(np.zeros((d.num_kv_heads, 0,
                                             d.head_size)))
            start = self.keys[request].shape[1]
            k = self.rng.standard_normal((count, d.num_kv_heads, d.head_size))
            v = self.rng.standard_normal((count, d.num_kv_heads, d.head_size))
            k_held, k_seen = stored(k, self.dtype)
            v_held, v_seen = stored(v, self.dtype)
            slots += self.slots(request, range(start, start + count)) + [-1]
            keys += [k_held, np.zeros_like(k_held[:1])]
            values += [v_held, np.zeros_like(v_held[:1])]
            self.keys[request] = np.concatenate(
                [self.keys[request], k_seen.transpose(1, 0, 2)], axis=1)
            self.values[request] = np.concatenate(
                [self.values[request], v_seen.transpose(1, 0, 2)], axis=1)
        self.decoder.write_kv(self.kv_cache, np.concatenate(keys),
                              np.concatenate(values),
                              np.array(slots, np.int64))

    def block_table(self):
        width = max(len(t) for t in self.tables)
        table = np.zeros((len(self.tables), width), np.int32)
        for r, blocks in enumerate(self.tables):
            table[r, :len(blocks)] = blocks
        return table

    def padded(self):
        """Keys and values [requests, kv_heads, longest, head_size]."""
        longest = max(k.shape[1] for k in self.keys)
        pad = [(0, 0), (0, longest), (0, 0)]
        return (np.stack([np.pad(k, pad)[:, :longest] for k in self.keys]),
                np.stack([np.pad(v, pad)[:, :longest] for v in self.values]))


def decode_steps(dtype, placement, steps=3, seed=0):
    rng = np.random.default_rng(seed)
    decoder = hgc_vllm.PagedDecoder(
        num_heads=8, head_size=64, num_kv_heads=2, block_size=16,
        kv_dtype=dtype, placement=placement,
        context=hgc.Context(target="host", cache_dir=""))
    engine = Engine(rng, decoder, num_blocks=64, dtype=dtype)
    engine.append([(0, 37), (1, 300), (2, 5)])  # prefill (attended by vLLM)
    for _ in range(steps):
        engine.append([(0, 1), (1, 1), (2, 1)])
        q = rng.standard_normal((3, 8, 64)).astype(np.float32)
        out = decoder.decode(q, engine.kv_cache, engine.block_table(),
                             np.array([k.shape[1] for k in engine.keys],
                                      np.int32))
        yield out, q.astype(np.float64), engine


@pytest.mark.parametrize("dtype", ["f32", "f16", "bf16"])
def test_dense_decode_over_vllm_blocks_is_exact(dtype):
    for out, q, engine in decode_steps(dtype, {"policy": "full"}):
        keys, values = engine.padded()
        lengths = [k.shape[1] for k in engine.keys]
        want, _ = ref.partial_attention(q, keys, values, lengths)
        np.testing.assert_allclose(out, want, atol=TOLERANCE[dtype],
                                   rtol=TOLERANCE[dtype])


def test_hgca_decode_over_vllm_blocks_matches_hgca():
    placement = {"policy": "hgca", "sink": 4, "window": 32, "budget": "0.25"}
    for out, q, engine in decode_steps("f32", placement):
        keys, values = engine.padded()
        lengths = [k.shape[1] for k in engine.keys]
        want = ref.hybrid_decode(q, keys, values, lengths, 4, 32, 0.25)
        np.testing.assert_allclose(out, want, atol=2e-5, rtol=2e-5)
        # Request 1 is long enough to be sparse: not dense attention.
        dense, _ = ref.partial_attention(q, keys, values, lengths)
        assert np.abs(out[1] - dense[1]).max() > 1e-3


def test_placement_from_the_engine_config(monkeypatch):
    assert hgc_vllm.placement_from({"hgc": {"policy": "quest", "block": 16}}) \
        == {"policy": "quest", "block": 16}
    monkeypatch.setenv("HGC_VLLM_PLACEMENT", '{"policy": "hgca"}')
    assert hgc_vllm.placement_from(None) == {"policy": "hgca"}
    assert hgc_vllm.placement_from({}, environ={}) == {}
    for config, message in [({"hgc": {"polcy": "hgca"}}, "unknown hgc"),
                            ({"hgc": ["hgca"]}, "must be an object")]:
        with pytest.raises(hgc.InvalidArgumentError, match=message):
            hgc_vllm.placement_from(config)
    with pytest.raises(hgc.InvalidArgumentError, match="not JSON"):
        hgc_vllm.placement_from(None, environ={"HGC_VLLM_PLACEMENT": "{"})


def test_bad_layouts_are_errors():
    decoder = hgc_vllm.PagedDecoder(8, 64, 2, 16, kv_dtype="f16",
                                    placement={"policy": "full"},
                                    context=hgc.Context(target="host",
                                                        cache_dir=""))
    cache = np.zeros((2, 4, 16, 2, 64), np.float16)
    row = np.zeros((1, 2, 64), np.float16)
    with pytest.raises(hgc.ShapeMismatchError, match="vLLM's layout"):
        decoder.write_kv(cache[:, :, :, :1], row, row, np.array([0]))
    with pytest.raises(hgc.OutOfRangeError, match="slot 64 of a cache of 64"):
        decoder.write_kv(cache, row, row, np.array([64]))
    with pytest.raises(hgc.ShapeMismatchError, match="one row per"):
        decoder.write_kv(cache, row, row, np.array([0, 1]))
    with pytest.raises(hgc.ShapeMismatchError):
        decoder.decode(np.zeros((1, 8, 64), np.float32), cache,
                       np.zeros((2, 1), np.int32), np.array([3], np.int32))


class DLPackTensor:
    """A CPU tensor of another library, seen only through DLPack (what a
    torch CPU tensor offers)."""

    def __init__(self, array):
        self._array = array

    def __dlpack__(self, **kwargs):
        return self._array.__dlpack__(**kwargs)

    def __dlpack_device__(self):
        return self._array.__dlpack_device__()


def test_dlpack_tensors_are_used_in_place():
    """The cache handed over as a DLPack tensor is written where it lives
    (no copy), and decodes like the numpy array it wraps."""
    decoder = hgc_vllm.PagedDecoder(8, 64, 2, 16, kv_dtype="f32",
                                    placement={"policy": "full"},
                                    context=hgc.Context(target="host",
                                                        cache_dir=""))
    rng = np.random.default_rng(9)
    cache = np.zeros((2, 4, 16, 2, 64), np.float32)
    keys = rng.standard_normal((20, 2, 64)).astype(np.float32)
    values = rng.standard_normal((20, 2, 64)).astype(np.float32)
    table = np.array([[3, 1]], np.int32)
    slots = np.array([3 * 16 + i for i in range(16)] +
                     [1 * 16 + i for i in range(4)], np.int64)
    decoder.write_kv(DLPackTensor(cache), DLPackTensor(keys),
                     DLPackTensor(values), DLPackTensor(slots))
    np.testing.assert_array_equal(cache[0, 3], keys[:16])
    np.testing.assert_array_equal(cache[1, 1, :4], values[16:])
    q = rng.standard_normal((1, 8, 64)).astype(np.float32)
    out = decoder.decode(DLPackTensor(q), DLPackTensor(cache),
                         DLPackTensor(table),
                         DLPackTensor(np.array([20], np.int32)))
    want, _ = ref.partial_attention(
        q.astype(np.float64), keys.transpose(1, 0, 2)[None].astype(np.float64),
        values.transpose(1, 0, 2)[None].astype(np.float64), [20])
    np.testing.assert_allclose(out, want, atol=2e-5, rtol=2e-5)
