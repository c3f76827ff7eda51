"""hgc as vLLM's CUSTOM attention backend (imports vllm and torch).

A decode-only step (every request one new token) over a KV cache in host
memory is attended by hgc (PagedDecoder), the step's keys and values first
written to their slots; every other step (prefill, chunked prefill mixed
with decodes, a cache in GPU memory) goes to the backend vLLM would have
used, `HGC_VLLM_PREFILL_BACKEND` (default FLASH_ATTN), whose metadata
builder this backend uses and whose KV layout it shares: [2, num_blocks,
block_size, num_kv_heads, head_size].

Written to vLLM's v1 interfaces (vllm/attention/backends/abstract.py,
registry.py) as of vLLM 0.11; not run against vLLM here (no GPU, and PyPI
has no CPU build of vLLM): docs/engines.md has the command for a full run.
"""
import os

import numpy as np
import torch
from vllm.attention.backends.abstract import AttentionBackend, AttentionImpl
from vllm.attention.backends.registry import AttentionBackendEnum

from hgc_vllm.paged import PagedDecoder, placement_from

_KV_DTYPES = {torch.float16: "f16", torch.bfloat16: "bf16",
              torch.float32: "f32"}


def _delegate():
    name = os.environ.get("HGC_VLLM_PREFILL_BACKEND", "FLASH_ATTN")
    return AttentionBackendEnum[name].get_class()


def _host(tensor):
    """A CPU tensor as numpy without a copy; bf16 as its raw bits."""
    if tensor.dtype == torch.bfloat16:
        return tensor.view(torch.int16).numpy().view(np.uint16)
    return tensor.numpy()


class HgcAttentionBackend(AttentionBackend):
    accept_output_buffer = True

    @staticmethod
    def get_name():
        return "CUSTOM"

    @staticmethod
    def get_impl_cls():
        return HgcAttentionImpl

    @staticmethod
    def get_builder_cls():
        return _delegate().get_builder_cls()

    @staticmethod
    def get_kv_cache_shape(num_blocks, block_size, num_kv_heads, head_size,
                           cache_dtype_str="auto"):
        return (2, num_blocks, block_size, num_kv_heads, head_size)

    @classmethod
    def get_supported_head_sizes(cls):
        return [64, 80, 96, 128, 160, 192, 256]


class HgcAttentionImpl(AttentionImpl):
    def __init__(self, num_heads, head_size, scale, num_kv_heads,
                 alibi_slopes, sliding_window, kv_cache_dtype,
                 logits_soft_cap=None, attn_type=None,
                 kv_sharing_target_layer_name=None, **kwargs):
        self.delegate = _delegate().get_impl_cls()(
            num_heads, head_size, scale, num_kv_heads, alibi_slopes,
            sliding_window, kv_cache_dtype, logits_soft_cap, attn_type,
            kv_sharing_target_layer_name, **kwargs)
        # hgc's decode has neither; such layers stay with the delegate.
        self.hgc_decodes = (alibi_slopes is None and sliding_window is None
                            and kv_cache_dtype == "auto")
        self.num_heads, self.head_size = num_heads, head_size
        self.num_kv_heads, self.scale = num_kv_heads, scale
        self.softcap = logits_soft_cap or 0.0
        from vllm.config import get_current_vllm_config
        self.placement = placement_from(
            get_current_vllm_config().additional_config)
        self.decoder = None

    def forward(self, layer, query, key, value, kv_cache, attn_metadata,
                output=None, output_scale=None, output_block_scale=None):
        decode_only = (attn_metadata is not None
                       and getattr(attn_metadata, "max_query_len", 0) == 1)
        if (not decode_only or not self.hgc_decodes
                or kv_cache.device.type != "cpu"):
            return self.delegate.forward(
                layer, query, key, value, kv_cache, attn_metadata,
                output=output, output_scale=output_scale,
                output_block_scale=output_block_scale)
        tokens = attn_metadata.num_actual_tokens
        if self.decoder is None:
            self.decoder = PagedDecoder(
                self.num_heads, self.head_size, self.num_kv_heads,
                block_size=kv_cache.shape[2],
                kv_dtype=_KV_DTYPES[kv_cache.dtype], scale=self.scale,
                softcap=self.softcap, placement=self.placement)
        cache = _host(kv_cache)
        shape = (tokens, self.num_kv_heads, self.head_size)
        self.decoder.write_kv(cache, _host(key[:tokens].reshape(shape)),
                              _host(value[:tokens].reshape(shape)),
                              _host(attn_metadata.slot_mapping[:tokens]))
        queries = query[:tokens].reshape(tokens, self.num_heads,
                                         self.head_size).float()
        result = self.decoder.decode(
            queries.numpy(), cache, _host(attn_metadata.block_table),
            _host(attn_metadata.seq_lens))
        output[:tokens].copy_(torch.from_numpy(result).reshape(
            tokens, -1).to(output.dtype))
        return output
