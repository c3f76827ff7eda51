"""vLLM's paged KV cache onto hgc's paged decode; needs no vLLM.

vLLM (v1) keeps each layer's cache as one tensor kv_cache[2, num_blocks,
block_size, num_kv_heads, head_size] (FlashAttention's layout: keys, then
values; hgc's "nhd"). Before attending, a step's new keys and values are
written to their slots, slot_mapping[i] = block * block_size + offset (-1:
a padding token, skipped), as vLLM's reshape_and_cache does; the step then
attends request r's seq_lens[r] tokens through block_table[r]. Arrays are
numpy arrays or CPU tensors (DLPack, no copy); bf16 travels as its raw 16
bits (uint16), as everywhere in hgc's Python API.
"""
import json
import os

import numpy as np

import hgc
from hgc import _jit

PLACEMENT_KEYS = ("policy", "sink", "window", "budget", "block", "tau",
                  "codebook", "channels", "host_capacity", "far_capacity",
                  "tail")
KV_DTYPES = {np.dtype(np.float16): "f16", np.dtype(np.float32): "f32",
             np.dtype(np.uint16): "bf16"}


def placement_from(additional_config=None, environ=None):
    """hgc placement options from vLLM's `additional_config["hgc"]`, else
    from $HGC_VLLM_PLACEMENT (a JSON object); hgc's names and defaults."""
    environ = os.environ if environ is None else environ
    options = (additional_config or {}).get("hgc")
    if options is None:
        text = environ.get("HGC_VLLM_PLACEMENT", "")
        try:
            options = json.loads(text) if text else {}
        except json.JSONDecodeError as error:
            raise hgc.InvalidArgumentError(
                1, f"HGC_VLLM_PLACEMENT is not JSON: {error}") from None
    if not isinstance(options, dict):
        raise hgc.InvalidArgumentError(
            1, f"hgc placement options must be an object, not {options!r}")
    unknown = sorted(set(options) - set(PLACEMENT_KEYS))
    if unknown:
        raise hgc.InvalidArgumentError(
            1, f"unknown hgc placement options {unknown} (known: "
            f"{', '.join(PLACEMENT_KEYS)})")
    return dict(options)


def _split_cache(kv_cache, num_kv_heads, head_size):
    """The key and value halves of a layer's cache, as views."""
    kv = _jit._host_array(kv_cache)
    if (kv.ndim != 5 or kv.shape[0] != 2
            or kv.shape[3:] != (num_kv_heads, head_size)):
        raise hgc.ShapeMismatchError(
            2, f"kv_cache {kv.shape} is not [2, num_blocks, block_size, "
            f"{num_kv_heads}, {head_size}] (vLLM's layout)")
    if not kv.flags.c_contiguous:
        raise hgc.ShapeMismatchError(2, "kv_cache must be C-contiguous")
    return kv[0], kv[1]


class PagedDecoder:
    """Decode attention of one layer over vLLM's paged KV cache."""

    def __init__(self, num_heads, head_size, num_kv_heads, block_size,
                 kv_dtype="f16", scale=None, softcap=0.0, placement=None,
                 context=None, target="host"):
        self.num_heads, self.head_size = num_heads, head_size
        self.num_kv_heads, self.block_size = num_kv_heads, block_size
        self.context = context or hgc.Context(target=target)
        self.config = hgc.AttentionConfig(
            q_heads=num_heads, kv_heads=num_kv_heads, head_dim=head_size,
            kv_dtype=kv_dtype, scale=scale or 0.0, softcap=softcap or 0.0,
            kv_block_size=block_size, kv_layout="nhd", **(placement or {}))
        self.kernel = self.context.compile(self.config)
        self.last_stats = None

    def write_kv(self, kv_cache, key, value, slot_mapping):
        """vLLM's reshape_and_cache: the key and value [num_tokens,
        num_kv_heads, head_size] of token i into slot slot_mapping[i]."""
        keys, values = _split_cache(kv_cache, self.num_kv_heads,
                                    self.head_size)
        slots = np.asarray(_jit._host_array(slot_mapping), dtype=np.int64)
        key, value = _jit._host_array(key), _jit._host_array(value)
        want = (len(slots), self.num_kv_heads, self.head_size)
        if key.shape != want or value.shape != want:
            raise hgc.ShapeMismatchError(
                2, f"key {key.shape} and value {value.shape} must be "
                f"{list(want)} (one row per slot_mapping entry)")
        capacity = keys.shape[0] * self.block_size
        valid = slots >= 0
        if (slots[valid] >= capacity).any():
            raise hgc.OutOfRangeError(
                4, f"slot_mapping names slot {int(slots.max())} of a cache "
                f"of {capacity}")
        flat_keys = keys.reshape(capacity, self.num_kv_heads, self.head_size)
        flat_values = values.reshape(capacity, self.num_kv_heads,
                                     self.head_size)
        flat_keys[slots[valid]] = key[valid]
        flat_values[slots[valid]] = value[valid]

    def decode(self, query, kv_cache, block_table, seq_lens):
        """One decode token per request: query [num_reqs, num_heads,
        head_size] -> output [num_reqs, num_heads, head_size] (f32), each
        request attending its seq_lens[r] tokens through block_table[r]."""
        keys, values = _split_cache(kv_cache, self.num_kv_heads,
                                    self.head_size)
        tables = np.ascontiguousarray(_jit._host_array(block_table),
                                      dtype=np.int32)
        lengths = np.ascontiguousarray(_jit._host_array(seq_lens),
                                       dtype=np.int32)
        output, self.last_stats = self.kernel.decode_paged(
            keys, values, tables, lengths, query)
        return output
