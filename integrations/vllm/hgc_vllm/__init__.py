"""hgc's decode attention behind vLLM's attention-backend interface.

vLLM loads `register` through its `vllm.general_plugins` entry point; it
registers `hgc_vllm.backend.HgcAttentionBackend` as vLLM's CUSTOM backend,
which `VLLM_ATTENTION_BACKEND=CUSTOM` (or the engine's attention-backend
option) selects. Decode tokens are attended by hgc over vLLM's own paged KV
cache, read in place; prefill and mixed steps go to the attention backend
vLLM would have picked (`HGC_VLLM_PREFILL_BACKEND`, default TORCH_SDPA on
CPU, FLASH_ATTN on CUDA). Placement options come from the engine's
`additional_config={"hgc": {"policy": "hgca", "window": 1024, ...}}`, else
from `HGC_VLLM_PLACEMENT` (JSON), with hgc's names and defaults.

The part that needs no vLLM (`PagedDecoder`: vLLM's KV layout, slot
mapping and block tables onto hgc's paged decode) is tested against a
float64 reference in test/python/test_vllm_plugin.py.
"""
from hgc_vllm.paged import PagedDecoder, placement_from

__all__ = ["PagedDecoder", "placement_from", "register"]


def register():
    """vLLM's plugin hook: makes hgc the CUSTOM attention backend."""
    try:
        from vllm.attention.backends.registry import (AttentionBackendEnum,
                                                      register_backend)
    except ImportError as error:  # not a vLLM this plugin knows
        raise ImportError(
            "hgc_vllm needs vLLM's attention backend registry "
            "(vllm.attention.backends.registry.register_backend, vLLM >= "
            f"0.11): {error}") from error
    register_backend(backend=AttentionBackendEnum.CUSTOM,
                     class_path="hgc_vllm.backend.HgcAttentionBackend")
