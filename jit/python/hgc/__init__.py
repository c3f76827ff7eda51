"""hgc: hybrid CPU-GPU attention for long-context decoding, from Python.

Whole models (ONNX), compiled once per input signature and run like an
onnxruntime session::

    import hgc
    session = hgc.compile("model.onnx", policy="hgca", window=1024)
    logits, *present = session.run(None, {"input_ids": ids, ...})

One attention in an engine's decode loop (the JIT)::

    ctx = hgc.Context(target="host")
    cfg = hgc.AttentionConfig(q_heads=32, kv_heads=8, head_dim=128,
                              kv_dtype="f16", policy="hgca", window=1024)
    kernel = ctx.compile(cfg)
    cache = ctx.create_cache(cfg, layers=32)     # hgc's tiered KV cache
    cache.add_sequence(0)
    cache.append(0, layer, keys, values)         # [kv_heads, tokens, dim]
    out, stats = cache.decode(kernel, layer, [0], queries)  # [batch, q, dim]
    # or over the engine's own paged KV (vLLM's layout):
    out = kernel.decode_paged(k_cache, v_cache, block_tables, seq_lens, q)

Arrays are numpy arrays or anything with __dlpack__ on the CPU (a torch CPU
tensor is read without a copy). Placement options have the names and
defaults of `hgc compile` and `hgc-opt` (policy, sink, window, budget,
block, ...). Failures raise hgc.Error, a subclass per status
(InvalidArgumentError is also a ValueError, ShapeMismatchError too,
OutOfRangeError an IndexError, CapacityError a MemoryError, ...).
"""
from hgc._jit import (KV_LAYOUTS, ORIGINS, AttentionConfig, CapacityError,
                      CompileError, Context, DeviceError, Error, HeadBudget,
                      HeadStep, HeadStream, InternalError,
                      InvalidArgumentError, Kernel, KVCache, ModelRunStats,
                      OutOfRangeError, Scheduler, Selection, Session,
                      ShapeMismatchError, Split, StepStats, StorageError,
                      UnknownSequenceError)

__version__ = "0.1.0"


def compile(model, **options):
    """Compiles ONNX model `model` (a path, or a compiled `.hgcm`) with
    placement options (policy=, sink=, window=, budget=, ...) and
    Session's (target=, threads=, cache_dir=, append_in_place=): a Session,
    whose run() compiles per input signature and reuses it."""
    return Session(model, **options)


__all__ = [name for name in dir() if not name.startswith("_")]
