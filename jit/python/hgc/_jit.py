"""The ctypes binding of libhgc (hgc-c/jit.h) behind the `hgc` package.

Failures raise hgc.Error (a subclass per C status: InvalidArgumentError,
ShapeMismatchError, ...) with the status name and message. The library is
the package's own (hgc/lib, a wheel), else the build tree's
($HGC_BUILD_DIR/lib, default <source>/build/lib), else $HGC_LIBRARY when
set, which wins over both.
"""
import ctypes
import os
import pathlib

import numpy as np

_here = pathlib.Path(__file__).resolve()


def _find_library():
    if os.environ.get("HGC_LIBRARY"):
        return os.environ["HGC_LIBRARY"]
    build = pathlib.Path(os.environ.get("HGC_BUILD_DIR",
                                        _here.parents[3] / "build"))
    for candidate in (_here.parent / "lib" / "libhgc.so",
                      build / "lib" / "libhgc.so"):
        if candidate.exists():
            return str(candidate)
    return "libhgc.so.0"


_lib = ctypes.CDLL(_find_library())

_STATUS = ["HGC_OK", "HGC_INVALID_ARGUMENT", "HGC_SHAPE_MISMATCH",
           "HGC_UNKNOWN_SEQUENCE", "HGC_OUT_OF_RANGE", "HGC_CAPACITY",
           "HGC_IO", "HGC_DEVICE", "HGC_COMPILE", "HGC_INTERNAL"]
_DTYPES = {"f32": (0, np.float32), "f16": (1, np.float16),
           "bf16": (2, np.uint16)}  # bf16 travels as its raw 16 bits
# `nvptx` is the driver's name (`hgc --target nvptx`) for what the JIT runs
# as cuda.
_TARGETS = {"auto": 0, "host": 1, "cuda": 2, "nvptx": 2}
ORIGINS = ["compiled", "memory", "disk"]


class Error(RuntimeError):
    """A failure of libhgc: `status` is the C status name (HGC_...).
    Constructing it picks the subclass of the status."""

    def __new__(cls, status, message=""):
        if cls is Error and 0 < status < len(_STATUS):
            cls = _ERRORS.get(_STATUS[status], Error)
        return super().__new__(cls, status, message)

    def __init__(self, status, message):
        self.status = _STATUS[status] if status < len(_STATUS) else str(status)
        super().__init__(f"{self.status}: {message}")


class InvalidArgumentError(Error, ValueError):
    pass


class ShapeMismatchError(Error, ValueError):
    pass


class UnknownSequenceError(Error, KeyError):
    def __str__(self):  # KeyError would quote the message
        return RuntimeError.__str__(self)


class OutOfRangeError(Error, IndexError):
    pass


class CapacityError(Error, MemoryError):
    pass


class StorageError(Error):
    pass


class DeviceError(Error):
    pass


class CompileError(Error):
    pass


class InternalError(Error):
    pass


_ERRORS = {"HGC_INVALID_ARGUMENT": InvalidArgumentError,
           "HGC_SHAPE_MISMATCH": ShapeMismatchError,
           "HGC_UNKNOWN_SEQUENCE": UnknownSequenceError,
           "HGC_OUT_OF_RANGE": OutOfRangeError,
           "HGC_CAPACITY": CapacityError, "HGC_IO": StorageError,
           "HGC_DEVICE": DeviceError, "HGC_COMPILE": CompileError,
           "HGC_INTERNAL": InternalError}


class _ContextOptions(ctypes.Structure):
    _fields_ = [("target", ctypes.c_int), ("chip", ctypes.c_char_p),
                ("threads", ctypes.c_int32), ("cache_dir", ctypes.c_char_p)]


class _Placement(ctypes.Structure):
    _fields_ = [("policy", ctypes.c_char_p), ("sink", ctypes.c_int64),
                ("window", ctypes.c_int64), ("budget", ctypes.c_char_p),
                ("block", ctypes.c_int64), ("tau", ctypes.c_double),
                ("codebook", ctypes.c_char_p), ("channels", ctypes.c_int64),
                ("host_capacity", ctypes.c_int64), ("tail", ctypes.c_char_p),
                ("far_capacity", ctypes.c_int64)]


class _HeadOverride(ctypes.Structure):
    _fields_ = [("first_kv_head", ctypes.c_int32),
                ("kv_heads", ctypes.c_int32), ("policy", ctypes.c_char_p),
                ("budget", ctypes.c_char_p), ("block", ctypes.c_int64),
                ("tau", ctypes.c_double)]


class _AttentionConfig(ctypes.Structure):
    _fields_ = [("q_heads", ctypes.c_int32), ("kv_heads", ctypes.c_int32),
                ("head_dim", ctypes.c_int32), ("kv_dtype", ctypes.c_int),
                ("scale", ctypes.c_float), ("causal", ctypes.c_int32),
                ("softcap", ctypes.c_float), ("placement", _Placement),
                ("overrides", ctypes.POINTER(_HeadOverride)),
                ("num_overrides", ctypes.c_int32),
                ("kv_block_size", ctypes.c_int32), ("kv_layout", ctypes.c_int),
                ("kv_summaries", ctypes.c_int32)]


class _PagedKV(ctypes.Structure):
    _fields_ = [("k_cache", ctypes.c_void_p), ("v_cache", ctypes.c_void_p),
                ("num_blocks", ctypes.c_int64),
                ("block_tables", ctypes.c_void_p),
                ("max_blocks", ctypes.c_int32), ("seq_lens", ctypes.c_void_p),
                ("key_min", ctypes.c_void_p), ("key_max", ctypes.c_void_p),
                ("max_summaries", ctypes.c_int32)]


KV_LAYOUTS = {"nhd": 0, "hnd": 1}


class _KernelInfo(ctypes.Structure):
    _fields_ = [("origin", ctypes.c_int), ("seconds", ctypes.c_double),
                ("key", ctypes.c_char_p), ("target", ctypes.c_char_p)]


class _CacheOptions(ctypes.Structure):
    _fields_ = [("layers", ctypes.c_int32), ("page_tokens", ctypes.c_int32),
                ("device_pages", ctypes.c_int64),
                ("host_pages", ctypes.c_int64),
                ("host_numa_nodes", ctypes.c_char_p),
                ("storage_dir", ctypes.c_char_p),
                ("recall_period", ctypes.c_int32),
                ("recall_blocks", ctypes.c_int32),
                ("evict_after", ctypes.c_int32),
                ("recalibrate_period", ctypes.c_int32),
                ("far_pages", ctypes.c_int64),
                ("far_numa_nodes", ctypes.c_char_p),
                ("far_bandwidth_gbs", ctypes.c_double),
                ("device_mirror", ctypes.c_int32)]


class HeadBudget(ctypes.Structure):
    """What Fluxion's calibration chose for one KV head (hgc_head_budget)."""
    _fields_ = [("tokens", ctypes.c_int64), ("fraction", ctypes.c_double),
                ("block", ctypes.c_int64), ("mass_kept", ctypes.c_double),
                ("entropy", ctypes.c_double)]


class _SelectionInfo(ctypes.Structure):
    _fields_ = [("batch", ctypes.c_int32), ("kv_heads", ctypes.c_int32),
                ("count", ctypes.c_int64), ("block", ctypes.c_int32),
                ("candidates", ctypes.POINTER(ctypes.c_int32))]


class _CacheStats(ctypes.Structure):
    _fields_ = [("pages", ctypes.c_int64 * 4), ("tokens", ctypes.c_int64),
                ("device_is_cuda", ctypes.c_int32),
                ("mirrored_pages", ctypes.c_int64),
                ("failed_over_pages", ctypes.c_int64)]


class StepStats(ctypes.Structure):
    _fields_ = [("seconds", ctypes.c_double),
                ("gather_seconds", ctypes.c_double * 2),
                ("compute_seconds", ctypes.c_double),
                ("device_kernel_seconds", ctypes.c_double),
                ("tokens", ctypes.c_int64 * 2),
                ("selected_tokens", ctypes.c_int64),
                ("bytes_moved", ctypes.c_int64),
                ("recalled_tokens", ctypes.c_int64),
                ("recall_hits", ctypes.c_int64),
                ("evicted_pages", ctypes.c_int64),
                ("restored_pages", ctypes.c_int64)]


_vp = ctypes.c_void_p
_lib.hgc_last_error.restype = ctypes.c_char_p
_lib.hgc_context_target.restype = ctypes.c_char_p
_lib.hgc_context_target.argtypes = [_vp]
for _name in ("hgc_context_release", "hgc_kernel_release",
              "hgc_kv_cache_release"):
    getattr(_lib, _name).argtypes = [_vp]
    getattr(_lib, _name).restype = None
_lib.hgc_context_create.argtypes = [ctypes.POINTER(_ContextOptions),
                                    ctypes.POINTER(_vp)]
_lib.hgc_compile.argtypes = [_vp, ctypes.POINTER(_AttentionConfig),
                             ctypes.POINTER(_vp)]
_lib.hgc_kernel_get_info.argtypes = [_vp, ctypes.POINTER(_KernelInfo)]
_lib.hgc_kv_cache_create.argtypes = [_vp, ctypes.POINTER(_AttentionConfig),
                                     ctypes.POINTER(_CacheOptions),
                                     ctypes.POINTER(_vp)]
_lib.hgc_kv_add_sequence.argtypes = [_vp, ctypes.c_int64]
_lib.hgc_kv_release_sequence.argtypes = [_vp, ctypes.c_int64]
_lib.hgc_kv_append.argtypes = [_vp, ctypes.c_int64, ctypes.c_int32,
                               ctypes.c_int64, _vp, _vp]
_lib.hgc_kv_length.argtypes = [_vp, ctypes.c_int64, ctypes.c_int32,
                               ctypes.POINTER(ctypes.c_int64)]
_lib.hgc_kv_read.argtypes = [_vp, ctypes.c_int64, ctypes.c_int32,
                             ctypes.c_int64, ctypes.c_int64, _vp, _vp]
_lib.hgc_kv_cache_get_stats.argtypes = [_vp, ctypes.POINTER(_CacheStats)]
_lib.hgc_kv_add_page_mass.argtypes = [_vp, ctypes.c_int64, ctypes.c_int32,
                                      _vp, ctypes.c_int64, ctypes.c_float]
_lib.hgc_kv_remap.argtypes = [_vp, ctypes.c_int64, ctypes.c_int32,
                              ctypes.c_float]
_lib.hgc_kv_page_tier.argtypes = [_vp, ctypes.c_int64, ctypes.c_int32,
                                  ctypes.c_int64,
                                  ctypes.POINTER(ctypes.c_int32)]
_lib.hgc_decode.argtypes = [_vp, _vp, ctypes.c_int32, ctypes.c_int32, _vp,
                            _vp, _vp, ctypes.POINTER(StepStats)]
_lib.hgc_decode_paged.argtypes = [_vp, ctypes.POINTER(_PagedKV),
                                  ctypes.c_int32, _vp, _vp,
                                  ctypes.POINTER(StepStats)]
_lib.hgc_select_ahead.argtypes = [_vp, _vp, ctypes.c_int32, ctypes.c_int32,
                                  _vp, _vp, ctypes.POINTER(_vp)]
_lib.hgc_decode_selected.argtypes = [_vp, _vp, _vp, _vp, _vp,
                                     ctypes.POINTER(StepStats)]
_lib.hgc_selection_get_info.argtypes = [_vp, ctypes.POINTER(_SelectionInfo)]
_lib.hgc_selection_release.argtypes = [_vp]
_lib.hgc_kv_get_recalled.argtypes = [_vp, ctypes.c_int64, ctypes.c_int32,
                                     _vp, ctypes.c_int32,
                                     ctypes.POINTER(ctypes.c_int32)]
_lib.hgc_selection_release.restype = None
_lib.hgc_calibrate.argtypes = [_vp, _vp, ctypes.c_int32, ctypes.c_int32, _vp,
                               _vp]
_lib.hgc_kernel_step_bytes.argtypes = [_vp, _vp, ctypes.c_int32,
                                       ctypes.c_int64,
                                       ctypes.POINTER(ctypes.c_double * 3)]
_lib.hgc_kv_get_calibration.argtypes = [_vp, _vp, ctypes.c_int32,
                                        ctypes.POINTER(HeadBudget),
                                        ctypes.c_int32,
                                        ctypes.POINTER(ctypes.c_int32)]
_lib.hgc_attention_config_init.argtypes = [ctypes.POINTER(_AttentionConfig)]
_lib.hgc_attention_config_init.restype = None


def _check(status):
    if status != 0:
        raise Error(status, _lib.hgc_last_error().decode())


def _defaults():
    config = _AttentionConfig()
    _lib.hgc_attention_config_init(ctypes.byref(config))
    return config


_DEFAULT = _defaults()


class _Owned:
    """An object owning a C handle: `_release` names the C function that
    frees it when the object goes."""
    _handle = None
    _release = None

    def __del__(self):
        if self._handle:
            getattr(_lib, self._release)(self._handle)
            self._handle = None


class AttentionConfig:
    """The attention of one layer; placement names and defaults are the
    driver's (`policy`, `sink`, `window`, `budget`, `block`, `tau`,
    `codebook`, `channels`, `host_capacity`, `far_capacity`, `tail`).
    `overrides` is a list of (first_kv_head, kv_heads, policy, budget[,
    block[, tau]]).
    `kv_block_size` > 0 makes kernels that decode over engine-owned paged
    KV (Kernel.decode_paged) in blocks of that many tokens, `kv_layout`
    "nhd" ([blocks, block_size, kv_heads, head_dim], vLLM's) or "hnd";
    `kv_summaries` when the engine keeps per-block key summaries (blocks of
    `block` tokens) for quest to read."""

    def __init__(self, q_heads, kv_heads, head_dim, kv_dtype="f16",
                 scale=0.0, causal=True, softcap=0.0,
                 policy=_DEFAULT.placement.policy.decode(),
                 sink=_DEFAULT.placement.sink,
                 window=_DEFAULT.placement.window,
                 budget=_DEFAULT.placement.budget.decode(),
                 block=_DEFAULT.placement.block, tau=_DEFAULT.placement.tau,
                 codebook=_DEFAULT.placement.codebook.decode(),
                 channels=_DEFAULT.placement.channels,
                 host_capacity=_DEFAULT.placement.host_capacity,
                 far_capacity=_DEFAULT.placement.far_capacity,
                 tail=_DEFAULT.placement.tail.decode(), overrides=(),
                 kv_block_size=0, kv_layout="nhd", kv_summaries=False):
        if kv_dtype not in _DTYPES:
            raise Error(1, f"kv_dtype {kv_dtype!r} is not one of "
                        f"{sorted(_DTYPES)}")
        self.q_heads, self.kv_heads, self.head_dim = q_heads, kv_heads, head_dim
        self.kv_dtype, self.scale, self.causal = kv_dtype, scale, causal
        self.softcap, self.policy, self.sink = softcap, policy, sink
        self.window, self.budget, self.block = window, str(budget), block
        self.tau, self.codebook = tau, codebook
        self.channels, self.host_capacity = channels, host_capacity
        self.far_capacity, self.tail = far_capacity, tail
        self.overrides = list(overrides)
        if kv_layout not in KV_LAYOUTS:
            raise Error(1, f"kv_layout {kv_layout!r} is not nhd or hnd")
        self.kv_block_size, self.kv_layout = kv_block_size, kv_layout
        self.kv_summaries = kv_summaries

    def _c(self):
        self._keep = []
        keep = self._keep.append
        c = _AttentionConfig(self.q_heads, self.kv_heads, self.head_dim,
                             _DTYPES[self.kv_dtype][0], self.scale,
                             int(self.causal), self.softcap)
        policy, budget = self.policy.encode(), self.budget.encode()
        codebook, tail = self.codebook.encode(), self.tail.encode()
        for text in (policy, budget, codebook, tail):
            keep(text)
        c.placement = _Placement(policy, self.sink, self.window, budget,
                                 self.block, self.tau, codebook,
                                 self.channels, self.host_capacity, tail,
                                 self.far_capacity)
        if self.overrides:
            array = (_HeadOverride * len(self.overrides))()
            for i, o in enumerate(self.overrides):
                first, heads, pol, bud = o[:4]
                array[i] = _HeadOverride(first, heads, pol.encode(),
                                         str(bud).encode(),
                                         o[4] if len(o) > 4 else 16,
                                         o[5] if len(o) > 5 else 0.0)
            keep(array)
            c.overrides = array
            c.num_overrides = len(self.overrides)
        c.kv_block_size = self.kv_block_size
        c.kv_layout = KV_LAYOUTS[self.kv_layout]
        c.kv_summaries = int(bool(self.kv_summaries))
        return c


def _host_array(value):
    """`value` as a numpy array without a copy: numpy arrays as they are,
    CPU tensors of other libraries through DLPack."""
    if isinstance(value, np.ndarray):
        return value
    if hasattr(value, "__dlpack__"):
        return np.from_dlpack(value)
    return np.asarray(value)


class Kernel(_Owned):
    _release = "hgc_kernel_release"

    def __init__(self, handle, config, context):
        self._handle, self.config, self._context = handle, config, context

    def info(self):
        info = _KernelInfo()
        _check(_lib.hgc_kernel_get_info(self._handle, ctypes.byref(info)))
        return {"origin": ORIGINS[info.origin], "seconds": info.seconds,
                "key": info.key.decode(), "target": info.target.decode()}

    def decode_paged(self, k_cache, v_cache, block_tables, seq_lens, queries,
                     key_min=None, key_max=None):
        """One decode step over engine-owned paged KV, read where it is:
        caches [num_blocks, block_size, kv_heads, head_dim] (or the "hnd"
        layout) in the kernel's kv_dtype, block_tables [batch, max_blocks]
        and seq_lens [batch] int32, queries [batch, q_heads, head_dim] f32.
        Arrays (numpy, or anything with __dlpack__ on the CPU, e.g. a torch
        tensor) are passed without a copy; they must be C-contiguous.
        With kv_summaries, `key_min`/`key_max` [batch, kv_heads,
        max_summaries, head_dim] in the kv dtype are the engine's per-block
        key summaries. Returns (outputs, StepStats)."""
        c = self.config
        dtype = _DTYPES[c.kv_dtype][1]
        k_cache, v_cache = _host_array(k_cache), _host_array(v_cache)
        block_tables = _host_array(block_tables)
        seq_lens = _host_array(seq_lens)
        queries = np.ascontiguousarray(_host_array(queries), dtype=np.float32)
        block = c.kv_block_size
        want = ((block, c.kv_heads) if c.kv_layout == "nhd" else
                (c.kv_heads, block)) + (c.head_dim,)
        for name, cache in (("k_cache", k_cache), ("v_cache", v_cache)):
            if (cache.dtype != dtype or cache.ndim != 4
                    or cache.shape[1:] != want):
                raise Error(2, f"{name} {cache.shape} {cache.dtype} does not "
                            f"fit [num_blocks, {', '.join(map(str, want))}] "
                            f"{np.dtype(dtype)}")
        if k_cache.shape != v_cache.shape:
            raise Error(2, f"k_cache {k_cache.shape} and v_cache "
                        f"{v_cache.shape} differ")
        batch = len(seq_lens)
        if (block_tables.dtype != np.int32 or seq_lens.dtype != np.int32
                or block_tables.ndim != 2 or block_tables.shape[0] != batch):
            raise Error(2, f"block_tables {block_tables.shape} "
                        f"{block_tables.dtype} and seq_lens {seq_lens.shape} "
                        f"{seq_lens.dtype} must be int32 [batch, max_blocks] "
                        "and [batch]")
        if queries.shape != (batch, c.q_heads, c.head_dim):
            raise Error(2, f"queries {queries.shape} do not fit [batch="
                        f"{batch}, q_heads={c.q_heads}, head_dim="
                        f"{c.head_dim}]")
        for name, array in (("k_cache", k_cache), ("v_cache", v_cache),
                            ("block_tables", block_tables),
                            ("seq_lens", seq_lens)):
            if not array.flags.c_contiguous:
                raise Error(2, f"{name} must be C-contiguous (it is read in "
                            "place)")
        summaries = [None, None, 0]
        if c.kv_summaries:
            if key_min is None or key_max is None:
                raise Error(1, "the kernel reads summaries: pass key_min and "
                            "key_max")
            key_min, key_max = _host_array(key_min), _host_array(key_max)
            for name, array in (("key_min", key_min), ("key_max", key_max)):
                if (array.dtype != dtype or array.ndim != 4 or
                        array.shape[:2] != (batch, c.kv_heads) or
                        array.shape[3] != c.head_dim or
                        not array.flags.c_contiguous):
                    raise Error(2, f"{name} {array.shape} {array.dtype} does "
                                f"not fit [batch={batch}, {c.kv_heads}, "
                                f"blocks, {c.head_dim}] {np.dtype(dtype)}, C "
                                "order")
            if key_min.shape != key_max.shape:
                raise Error(2, f"key_min {key_min.shape} and key_max "
                            f"{key_max.shape} differ")
            summaries = [key_min.ctypes.data, key_max.ctypes.data,
                         key_min.shape[2]]
        kv = _PagedKV(k_cache.ctypes.data, v_cache.ctypes.data,
                      k_cache.shape[0], block_tables.ctypes.data,
                      block_tables.shape[1], seq_lens.ctypes.data,
                      *summaries)
        outputs = np.empty_like(queries)
        stats = StepStats()
        _check(_lib.hgc_decode_paged(self._handle, ctypes.byref(kv), batch,
                                     queries.ctypes.data, outputs.ctypes.data,
                                     ctypes.byref(stats)))
        return outputs, stats


def _decode_queries(config, batch, queries):
    """Queries [batch, q_heads, head_dim] as contiguous f32, or an Error."""
    queries = np.ascontiguousarray(_host_array(queries), dtype=np.float32)
    if queries.shape != (batch, config.q_heads, config.head_dim):
        raise Error(2, f"queries {queries.shape} do not fit [batch={batch}, "
                    f"q_heads={config.q_heads}, head_dim={config.head_dim}]")
    return queries


class Selection(_Owned):
    """A later step's host-tier candidates chosen ahead (hgc_selection)."""

    _release = "hgc_selection_release"

    def __init__(self, handle, kernel, cache):
        # The kernel and cache outlive the selection that names them.
        self._handle, self._kernel, self._cache = handle, kernel, cache
        info = _SelectionInfo()
        _check(_lib.hgc_selection_get_info(handle, ctypes.byref(info)))
        self.batch, self.block = info.batch, info.block
        shape = (info.batch, info.kv_heads, info.count)
        self.candidates = np.ctypeslib.as_array(
            info.candidates, shape=shape).copy() if info.count else \
            np.empty(shape, np.int32)


class KVCache(_Owned):
    _release = "hgc_kv_cache_release"

    def __init__(self, handle, config, context):
        self._handle, self.config, self._context = handle, config, context
        self._dtype = _DTYPES[config.kv_dtype][1]

    def add_sequence(self, seq):
        _check(_lib.hgc_kv_add_sequence(self._handle, seq))

    def release_sequence(self, seq):
        _check(_lib.hgc_kv_release_sequence(self._handle, seq))

    def append(self, seq, layer, keys, values):
        """keys, values: [kv_heads, tokens, head_dim] of the cache's dtype."""
        keys = np.ascontiguousarray(_host_array(keys), dtype=self._dtype)
        values = np.ascontiguousarray(_host_array(values), dtype=self._dtype)
        if keys.shape != values.shape or keys.ndim != 3:
            raise Error(2, f"keys {keys.shape} and values {values.shape} must "
                        "both be [kv_heads, tokens, head_dim]")
        c = self.config
        if keys.shape[0] != c.kv_heads or keys.shape[2] != c.head_dim:
            raise Error(2, f"keys {keys.shape} do not fit [kv_heads="
                        f"{c.kv_heads}, tokens, head_dim={c.head_dim}]")
        _check(_lib.hgc_kv_append(self._handle, seq, layer, keys.shape[1],
                                  keys.ctypes.data, values.ctypes.data))

    def length(self, seq, layer):
        tokens = ctypes.c_int64()
        _check(_lib.hgc_kv_length(self._handle, seq, layer,
                                  ctypes.byref(tokens)))
        return tokens.value

    def add_page_mass(self, seq, layer, masses, decay=1.0):
        """A step's attention mass per page (HybridGen's mapping); each
        page's kept mass is multiplied by `decay` first."""
        masses = np.ascontiguousarray(masses, dtype=np.float32)
        _check(_lib.hgc_kv_add_page_mass(self._handle, seq, layer,
                                         masses.ctypes.data, len(masses),
                                         decay))

    def remap(self, seq, layer, margin=0.1):
        """Places the cold pages across host, far and storage by their kept
        mass (returns when the copies are done)."""
        _check(_lib.hgc_kv_remap(self._handle, seq, layer, margin))

    def page_tier(self, seq, layer, page):
        """0 device, 1 host, 2 far, 3 storage."""
        tier = ctypes.c_int32()
        _check(_lib.hgc_kv_page_tier(self._handle, seq, layer, page,
                                     ctypes.byref(tier)))
        return tier.value

    def read(self, seq, layer, first=0, count=None):
        if count is None:
            count = self.length(seq, layer) - first
        c = self.config
        keys = np.empty((c.kv_heads, count, c.head_dim), self._dtype)
        values = np.empty_like(keys)
        _check(_lib.hgc_kv_read(self._handle, seq, layer, first, count,
                                keys.ctypes.data, values.ctypes.data))
        return keys, values

    def stats(self):
        stats = _CacheStats()
        _check(_lib.hgc_kv_cache_get_stats(self._handle, ctypes.byref(stats)))
        return {"pages": list(stats.pages), "tokens": stats.tokens,
                "device_is_cuda": bool(stats.device_is_cuda),
                "mirrored_pages": stats.mirrored_pages,
                "failed_over_pages": stats.failed_over_pages}

    def decode(self, kernel, layer, seqs, queries):
        """queries [batch, q_heads, head_dim] -> (outputs, StepStats)."""
        seqs = np.ascontiguousarray(seqs, dtype=np.int64)
        queries = _decode_queries(kernel.config, len(seqs), queries)
        outputs = np.empty_like(queries)
        stats = StepStats()
        _check(_lib.hgc_decode(kernel._handle, self._handle, layer, len(seqs),
                               seqs.ctypes.data, queries.ctypes.data,
                               outputs.ctypes.data, ctypes.byref(stats)))
        return outputs, stats

    def select_ahead(self, kernel, layer, seqs, predicted_queries):
        """The host tier's candidates of a later step of `layer`, chosen
        from predicted queries [batch, q_heads, head_dim] (hgc_select_ahead):
        a Selection for decode_selected."""
        seqs = np.ascontiguousarray(seqs, dtype=np.int64)
        predicted = _decode_queries(kernel.config, len(seqs),
                                    predicted_queries)
        handle = _vp()
        _check(_lib.hgc_select_ahead(kernel._handle, self._handle, layer,
                                     len(seqs), seqs.ctypes.data,
                                     predicted.ctypes.data,
                                     ctypes.byref(handle)))
        return Selection(handle, kernel, self)

    def decode_selected(self, kernel, selection, queries):
        """The step over `selection`'s candidates with the real queries
        (hgc_decode_selected) -> (outputs, StepStats)."""
        queries = _decode_queries(kernel.config, selection.batch, queries)
        outputs = np.empty_like(queries)
        stats = StepStats()
        _check(_lib.hgc_decode_selected(kernel._handle, self._handle,
                                        selection._handle,
                                        queries.ctypes.data,
                                        outputs.ctypes.data,
                                        ctypes.byref(stats)))
        return outputs, stats

    def calibrate(self, kernel, layer, seqs, queries):
        """Fluxion's per-head budgets of `layer` for `kernel` from the
        sequences' keys and queries [batch, q_heads, head_dim]
        (hgc_calibrate); the layer's next steps decode with them."""
        seqs = np.ascontiguousarray(seqs, dtype=np.int64)
        queries = _decode_queries(kernel.config, len(seqs), queries)
        _check(_lib.hgc_calibrate(kernel._handle, self._handle, layer,
                                  len(seqs), seqs.ctypes.data,
                                  queries.ctypes.data))

    def calibration(self, kernel, layer):
        """The HeadBudget per KV head `kernel` decodes `layer` with ([]
        before a calibration)."""
        heads = kernel.config.kv_heads
        budgets = (HeadBudget * heads)()
        count = ctypes.c_int32()
        _check(_lib.hgc_kv_get_calibration(kernel._handle, self._handle,
                                           layer, budgets, heads,
                                           ctypes.byref(count)))
        return list(budgets[:count.value])

    def step_bytes(self, kernel, layer, length):
        """[device, host, far memory + storage] bytes one step of a `length`-token
        sequence of `layer` reads under `kernel`'s placement, this cache's
        per-head budgets included (hgc_kernel_step_bytes)."""
        out = (ctypes.c_double * 3)()
        _check(_lib.hgc_kernel_step_bytes(kernel._handle, self._handle, layer,
                                          length, ctypes.byref(out)))
        return list(out)

    def recalled(self, seq, layer):
        """The pages of `layer` of `seq` recalled now (periodic recall)."""
        pages = (ctypes.c_int64 * 4096)()
        count = ctypes.c_int32()
        _check(_lib.hgc_kv_get_recalled(self._handle, seq, layer, pages,
                                        4096, ctypes.byref(count)))
        return list(pages[:count.value])


class Context(_Owned):
    _release = "hgc_context_release"

    def __init__(self, target="auto", threads=0, cache_dir=None, chip=None):
        if target not in _TARGETS:
            raise Error(1, f"target {target!r} is not auto, host, cuda or nvptx")
        options = _ContextOptions(_TARGETS[target],
                                  chip.encode() if chip else None, threads,
                                  None if cache_dir is None
                                  else str(cache_dir).encode())
        handle = _vp()
        _check(_lib.hgc_context_create(ctypes.byref(options),
                                       ctypes.byref(handle)))
        self._handle = handle

    @property
    def target(self):
        return _lib.hgc_context_target(self._handle).decode()

    def compile(self, config):
        handle = _vp()
        c = config._c()
        _check(_lib.hgc_compile(self._handle, ctypes.byref(c),
                                ctypes.byref(handle)))
        return Kernel(handle, config, self)

    def open_model(self, path, **options):
        """An ONNX model in a session (see Session)."""
        return Session(path, context=self, **options)

    def create_cache(self, config, layers, page_tokens=64, device_pages=0,
                     host_pages=0, storage_dir=None, recall_period=0,
                     recall_blocks=0, evict_after=0, recalibrate_period=0,
                     far_pages=0, far_bandwidth_gbs=0.0,
                     device_mirror=False):
        options = _CacheOptions(layers, page_tokens, device_pages, host_pages,
                                None, storage_dir and os.fsencode(storage_dir),
                                recall_period, recall_blocks, evict_after,
                                recalibrate_period, far_pages, None,
                                far_bandwidth_gbs, int(bool(device_mirror)))
        handle = _vp()
        c = config._c()
        _check(_lib.hgc_kv_cache_create(self._handle, ctypes.byref(c),
                                        ctypes.byref(options),
                                        ctypes.byref(handle)))
        return KVCache(handle, config, self)


class _SchedulerOptions(ctypes.Structure):
    _fields_ = [("context", ctypes.c_int64), ("window", ctypes.c_int64),
                ("min_window", ctypes.c_int64), ("max_window", ctypes.c_int64),
                ("quantum", ctypes.c_int64), ("threads", ctypes.c_int32),
                ("min_threads", ctypes.c_int32),
                ("max_threads", ctypes.c_int32),
                ("smoothing", ctypes.c_double), ("gain", ctypes.c_double),
                ("tolerance", ctypes.c_double)]


class _TierTimes(ctypes.Structure):
    _fields_ = [("device_seconds", ctypes.c_double),
                ("host_seconds", ctypes.c_double),
                ("transfer_seconds", ctypes.c_double)]


class Split(ctypes.Structure):
    """The split a step should run with (hgc_split)."""
    _fields_ = [("window", ctypes.c_int64), ("threads", ctypes.c_int32),
                ("moved", ctypes.c_int32), ("imbalance", ctypes.c_double),
                ("steps", ctypes.c_int64)]


_lib.hgc_scheduler_create.argtypes = [ctypes.POINTER(_SchedulerOptions),
                                      ctypes.POINTER(_vp)]
_lib.hgc_scheduler_release.argtypes = [_vp]
_lib.hgc_scheduler_release.restype = None
_lib.hgc_scheduler_observe.argtypes = [_vp, ctypes.POINTER(_TierTimes),
                                       ctypes.POINTER(Split)]
_lib.hgc_scheduler_get_split.argtypes = [_vp, ctypes.POINTER(Split)]


class Scheduler(_Owned):
    """HybridGen-style feedback between the tiers (hgc_scheduler_*): give
    each step's measured device and host (and transfer) seconds to
    `observe`, run the next step with the split it returns. Zero options
    take the C API's defaults."""

    _release = "hgc_scheduler_release"

    def __init__(self, context, window, min_window, max_window, quantum=0,
                 threads=0, min_threads=0, max_threads=0, smoothing=0.0,
                 gain=0.0, tolerance=0.0):
        options = _SchedulerOptions(context, window, min_window, max_window,
                                    quantum, threads, min_threads,
                                    max_threads, smoothing, gain, tolerance)
        handle = _vp()
        _check(_lib.hgc_scheduler_create(ctypes.byref(options),
                                         ctypes.byref(handle)))
        self._handle = handle

    def observe(self, device_seconds, host_seconds, transfer_seconds=0.0):
        times = _TierTimes(device_seconds, host_seconds, transfer_seconds)
        split = Split()
        _check(_lib.hgc_scheduler_observe(self._handle, ctypes.byref(times),
                                          ctypes.byref(split)))
        return split

    @property
    def split(self):
        split = Split()
        _check(_lib.hgc_scheduler_get_split(self._handle, ctypes.byref(split)))
        return split


class _RuntimeKVConfig(ctypes.Structure):
    _fields_ = [("layers", ctypes.c_int32), ("kv_heads", ctypes.c_int32),
                ("head_dim", ctypes.c_int32), ("dtype", ctypes.c_int32),
                ("page_tokens", ctypes.c_int32), ("sink", ctypes.c_int64),
                ("window", ctypes.c_int64), ("device_pages", ctypes.c_int64),
                ("host_pages", ctypes.c_int64),
                ("storage_dir", ctypes.c_char_p),
                ("quantize_keys", ctypes.c_int32),
                ("host_numa_nodes", ctypes.c_char_p),
                ("channel_keys", ctypes.c_int32),
                ("pq_subspaces", ctypes.c_int32),
                ("pq_centroids", ctypes.c_int32),
                ("far_pages", ctypes.c_int64),
                ("far_numa_nodes", ctypes.c_char_p),
                ("far_bandwidth_gbs", ctypes.c_double),
                ("device_mirror", ctypes.c_int32)]


class _HeadStreamConfig(ctypes.Structure):
    _fields_ = [("kv", _RuntimeKVConfig),
                ("resident_heads", ctypes.POINTER(ctypes.c_int32)),
                ("resident_count", ctypes.c_int32),
                ("group_heads", ctypes.c_int32),
                ("double_buffer", ctypes.c_int32),
                ("link_bandwidth_gbs", ctypes.c_double)]


class HeadStep(ctypes.Structure):
    """What one head-streamed step did (hgc_rt_head_step)."""
    _fields_ = [("seconds", ctypes.c_double),
                ("copy_seconds", ctypes.c_double),
                ("compute_seconds", ctypes.c_double),
                ("stall_seconds", ctypes.c_double),
                ("streamed_bytes", ctypes.c_int64),
                ("streamed_groups", ctypes.c_int32),
                ("prefetched", ctypes.c_int32)]


_lib.hgc_rt_last_error.restype = ctypes.c_char_p
_lib.hgc_rt_head_stream_create.argtypes = [ctypes.POINTER(_HeadStreamConfig),
                                           ctypes.POINTER(_vp)]
_lib.hgc_rt_head_stream_destroy.argtypes = [_vp]
_lib.hgc_rt_head_stream_destroy.restype = None
_lib.hgc_rt_head_stream_add_sequence.argtypes = [_vp, ctypes.c_int64]
_lib.hgc_rt_head_stream_release_sequence.argtypes = [_vp, ctypes.c_int64]
_lib.hgc_rt_head_stream_append.argtypes = [_vp, ctypes.c_int64,
                                           ctypes.c_int32, _vp]
_lib.hgc_rt_head_stream_read.argtypes = [_vp, ctypes.c_int64, ctypes.c_int32,
                                         ctypes.c_int64, ctypes.c_int64, _vp,
                                         _vp]
_lib.hgc_rt_head_stream_attend.argtypes = [
    _vp, ctypes.c_int64, ctypes.c_int32, ctypes.c_int32, _vp, ctypes.c_float,
    _vp, _vp, ctypes.c_int32, ctypes.POINTER(HeadStep)]


def _check_runtime(status):
    if status != 0:
        raise Error(status, _lib.hgc_rt_last_error().decode())


class HeadStream(_Owned):
    """HeadInfer's head-wise residency (hgc-rt/head_stream.h): KV heads
    `resident_heads` whole on the device, the others streamed to it in
    groups of `group_heads` every step, double-buffered; exact."""

    _release = "hgc_rt_head_stream_destroy"

    def __init__(self, layers, kv_heads, head_dim, resident_heads=(),
                 group_heads=1, kv_dtype="f32", page_tokens=64, sink=0,
                 window=0, device_pages=0, host_pages=0, far_pages=0,
                 storage_dir=None, double_buffer=True, link_bandwidth_gbs=0.0):
        if kv_dtype not in _DTYPES:
            raise ValueError(f"kv_dtype {kv_dtype!r} is not one of "
                             f"{sorted(_DTYPES)}")
        self._dtype_code, self._dtype = _DTYPES[kv_dtype]
        self._shape = (kv_heads, head_dim)
        kv = _RuntimeKVConfig(
            layers=layers, kv_heads=kv_heads, head_dim=head_dim,
            dtype=_DTYPES[kv_dtype][0], page_tokens=page_tokens, sink=sink,
            window=window, device_pages=device_pages, host_pages=host_pages,
            storage_dir=storage_dir.encode() if storage_dir else None,
            far_pages=far_pages)
        resident = (ctypes.c_int32 * max(1, len(resident_heads)))(
            *resident_heads)
        config = _HeadStreamConfig(kv, resident, len(resident_heads),
                                   group_heads, int(double_buffer),
                                   link_bandwidth_gbs)
        handle = _vp()
        _check_runtime(_lib.hgc_rt_head_stream_create(ctypes.byref(config),
                                                      ctypes.byref(handle)))
        self._handle = handle

    def add_sequence(self, seq):
        _check_runtime(_lib.hgc_rt_head_stream_add_sequence(self._handle, seq))

    def release_sequence(self, seq):
        _check_runtime(_lib.hgc_rt_head_stream_release_sequence(self._handle,
                                                                seq))

    def append(self, seq, layer, keys, values):
        """keys, values: [kv_heads, tokens, head_dim] of the stream's dtype."""
        keys = np.ascontiguousarray(_host_array(keys), dtype=self._dtype)
        values = np.ascontiguousarray(_host_array(values), dtype=self._dtype)
        if keys.shape != values.shape or keys.ndim != 3 or \
                keys.shape[0::2] != self._shape:
            raise ValueError(f"keys and values must be [{self._shape[0]}, "
                             f"tokens, {self._shape[1]}], got {keys.shape} "
                             f"and {values.shape}")
        block = _RuntimeBlock(self._dtype_code, keys.shape[0], keys.shape[2],
                              keys.shape[1], keys.ctypes.data,
                              values.ctypes.data)
        _check_runtime(_lib.hgc_rt_head_stream_append(
            self._handle, seq, layer, ctypes.addressof(block)))

    def read(self, seq, layer, first, count):
        keys = np.empty((self._shape[0], count, self._shape[1]), self._dtype)
        values = np.empty_like(keys)
        _check_runtime(_lib.hgc_rt_head_stream_read(
            self._handle, seq, layer, first, count, keys.ctypes.data,
            values.ctypes.data))
        return keys, values

    def attend(self, seq, layer, query, scale=None, next_layer=-1):
        """query [q_heads, head_dim] f32: (output, lse, HeadStep)."""
        query = np.ascontiguousarray(_host_array(query), dtype=np.float32)
        if query.ndim != 2 or query.shape[1] != self._shape[1]:
            raise ValueError(f"query must be [q_heads, {self._shape[1]}], "
                             f"got {query.shape}")
        if scale is None:
            scale = 1.0 / np.sqrt(self._shape[1])
        output = np.empty_like(query)
        lse = np.empty(query.shape[0], np.float32)
        step = HeadStep()
        _check_runtime(_lib.hgc_rt_head_stream_attend(
            self._handle, seq, layer, query.shape[0], query.ctypes.data,
            scale, output.ctypes.data, lse.ctypes.data, next_layer,
            ctypes.byref(step)))
        return output, lse, step


class _RuntimeBlock(ctypes.Structure):
    _fields_ = [("dtype", ctypes.c_int32), ("kv_heads", ctypes.c_int32),
                ("head_dim", ctypes.c_int32), ("tokens", ctypes.c_int64),
                ("keys", _vp), ("values", _vp)]


class _ModelOptions(ctypes.Structure):
    _fields_ = [("placement", _Placement), ("param_min_bytes", ctypes.c_int64),
                ("cache_dir", ctypes.c_char_p),
                ("append_in_place", ctypes.c_int32)]


class _Tensor(ctypes.Structure):
    _fields_ = [("dtype", ctypes.c_char_p), ("rank", ctypes.c_int32),
                ("shape", ctypes.POINTER(ctypes.c_int64)), ("data", _vp)]


class ModelRunStats(ctypes.Structure):
    _fields_ = [("compiled", ctypes.c_int32), ("loaded", ctypes.c_int32),
                ("compile_seconds", ctypes.c_double),
                ("run_seconds", ctypes.c_double),
                ("programs", ctypes.c_int64)]


_lib.hgc_model_options_init.argtypes = [ctypes.POINTER(_ModelOptions)]
_lib.hgc_model_options_init.restype = None
_lib.hgc_model_open.argtypes = [_vp, ctypes.c_char_p,
                                ctypes.POINTER(_ModelOptions),
                                ctypes.POINTER(_vp)]
_lib.hgc_model_release.argtypes = [_vp]
_lib.hgc_model_release.restype = None
for _name in ("hgc_model_num_inputs", "hgc_model_num_outputs"):
    getattr(_lib, _name).argtypes = [_vp]
    getattr(_lib, _name).restype = ctypes.c_size_t
for _name in ("hgc_model_input_name", "hgc_model_output_name"):
    getattr(_lib, _name).argtypes = [_vp, ctypes.c_size_t]
    getattr(_lib, _name).restype = ctypes.c_char_p
_lib.hgc_model_run.argtypes = [_vp, ctypes.POINTER(_Tensor), ctypes.c_size_t,
                               ctypes.POINTER(ModelRunStats)]
_lib.hgc_model_run_strided.argtypes = [
    _vp, ctypes.POINTER(_Tensor), ctypes.POINTER(ctypes.POINTER(ctypes.c_int64)),
    ctypes.c_size_t, ctypes.POINTER(ModelRunStats)]
_lib.hgc_model_output_strides.argtypes = [_vp, ctypes.c_size_t,
                                          ctypes.POINTER(ctypes.c_int64)]
_lib.hgc_model_get_output.argtypes = [_vp, ctypes.c_size_t,
                                      ctypes.POINTER(_Tensor)]
_lib.hgc_model_take_output.argtypes = [_vp, ctypes.c_size_t,
                                       ctypes.POINTER(_Tensor),
                                       ctypes.POINTER(_vp)]
_lib.hgc_buffer_release.argtypes = [_vp]
_lib.hgc_buffer_release.restype = None


class _Buffer:
    """Owns an output taken from a model; released with the last array
    that views it."""

    def __init__(self, handle):
        self.handle = handle

    def __del__(self):
        _lib.hgc_buffer_release(self.handle)


def _strided_or_contiguous(value):
    """`value` as an array the C API reads: as it is when its strides are
    positive whole elements (a view of a larger buffer), else C order."""
    array = _host_array(value)
    if array.flags.c_contiguous or not array.size:
        return np.ascontiguousarray(array)
    if all(s > 0 and s % array.itemsize == 0 for s in array.strides):
        return array
    return np.ascontiguousarray(array)


class Session(_Owned):
    """An ONNX model compiled by hgc, in onnxruntime's shape:

        session = Session("model.onnx", policy="hgca", window=1024)
        logits, *present = session.run(None, {"input_ids": ids, ...})

    Placement options have the driver's names and defaults; `target` and
    `threads` are the Context's (a context may be passed instead). Weights
    stay in their files (mapped); a program is compiled per input signature
    and reused, and kept in `cache_dir` (else the context's, else
    $HGC_CACHE_DIR) for later processes. `path` may be a compiled model
    (`hgc compile -o X.hgcm`). `last_stats` holds the last run's
    ModelRunStats.

    With `append_in_place=True`, a past the model appends to (a Concat of
    it, an attention's past and present) fed as a view of a larger buffer,
    `buf[:, :, :past]` of `buf` [batch, heads, capacity, head], gets the new
    positions written into `buf` after it, and the present comes back as
    `buf[:, :, :past + new]`: feed it back as the next past and nothing is
    copied (onnxruntime-genai's shared past/present buffer, for any graph).
    """

    _release = "hgc_model_release"

    def __init__(self, path, target="host", threads=0, context=None,
                 param_min_bytes=None, cache_dir=None, append_in_place=False,
                 **placement):
        self._context = context or Context(target=target, threads=threads)
        options = _ModelOptions()
        _lib.hgc_model_options_init(ctypes.byref(options))
        self._keep = []
        for key, value in placement.items():
            if key not in ("policy", "sink", "window", "budget", "block",
                           "tau", "codebook", "channels", "host_capacity",
                           "far_capacity", "tail"):
                raise Error(1, f"unknown placement option {key!r}")
            if key in ("policy", "budget", "codebook", "tail"):
                value = str(value).encode()
                self._keep.append(value)
            setattr(options.placement, key, value)
        if param_min_bytes is not None:
            options.param_min_bytes = param_min_bytes
        if cache_dir is not None:
            self._keep.append(str(cache_dir).encode())
            options.cache_dir = self._keep[-1]
        options.append_in_place = int(bool(append_in_place))
        self._append_in_place = bool(append_in_place)
        handle = _vp()
        _check(_lib.hgc_model_open(self._context._handle, str(path).encode(),
                                   ctypes.byref(options),
                                   ctypes.byref(handle)))
        self._handle = handle
        self.input_names = [
            _lib.hgc_model_input_name(handle, i).decode()
            for i in range(_lib.hgc_model_num_inputs(handle))]
        self.output_names = [
            _lib.hgc_model_output_name(handle, i).decode()
            for i in range(_lib.hgc_model_num_outputs(handle))]
        self.last_stats = None

    def run(self, output_names, feeds):
        """Outputs (a list, in `output_names` order or all) for `feeds`, a
        dict from input name to numpy array."""
        missing = [n for n in self.input_names if n not in feeds]
        unknown = [n for n in feeds if n not in self.input_names]
        if missing or unknown:
            raise Error(2, f"inputs missing {missing}, unknown {unknown}")
        arrays = [_strided_or_contiguous(feeds[n]) for n in self.input_names]
        tensors = (_Tensor * max(1, len(arrays)))()
        strides = (ctypes.POINTER(ctypes.c_int64) * max(1, len(arrays)))()
        keep = []
        for i, array in enumerate(arrays):
            shape = (ctypes.c_int64 * max(1, array.ndim))(*array.shape)
            dtype = array.dtype.str.encode()
            keep += [shape, dtype]
            tensors[i] = _Tensor(dtype, array.ndim, shape,
                                 array.ctypes.data_as(_vp))
            if not array.flags.c_contiguous:
                steps = (ctypes.c_int64 * array.ndim)(
                    *(s // array.itemsize for s in array.strides))
                keep.append(steps)
                strides[i] = steps
        stats = ModelRunStats()
        _check(_lib.hgc_model_run_strided(self._handle, tensors, strides,
                                          len(arrays), ctypes.byref(stats)))
        self.last_stats = stats
        wanted = output_names or self.output_names
        for name in wanted:
            if name not in self.output_names:
                raise Error(4, f"the model has no output {name!r}")
        results = {}
        for name in dict.fromkeys(wanted):
            index = self.output_names.index(name)
            # Only a session that appends in place returns views of inputs.
            view = (self._append_view(index, arrays)
                    if self._append_in_place else None)
            if view is not None:
                results[name] = view
                continue
            # The compiled code's own buffer becomes the array's: no copy.
            out, handle = _Tensor(), _vp()
            _check(_lib.hgc_model_take_output(
                self._handle, self.output_names.index(name),
                ctypes.byref(out), ctypes.byref(handle)))
            owner = _Buffer(handle)
            shape = tuple(out.shape[d] for d in range(out.rank))
            dtype = np.dtype(out.dtype.decode())
            nbytes = dtype.itemsize * int(np.prod(shape, dtype=np.int64))
            if nbytes == 0:
                results[name] = np.empty(shape, dtype)
                continue
            raw = (ctypes.c_uint8 * nbytes).from_address(out.data)
            raw._owner = owner
            results[name] = np.frombuffer(raw, dtype).reshape(shape)
        return [results[name] for name in wanted]

    def _append_view(self, index, arrays):
        """Output `index` as a view of the feed whose buffer it was written
        into (append_in_place), or None when it is an array of its own."""
        out = _Tensor()
        _check(_lib.hgc_model_get_output(self._handle, index,
                                         ctypes.byref(out)))
        shape = tuple(out.shape[d] for d in range(out.rank))
        steps = (ctypes.c_int64 * max(1, out.rank))()
        _check(_lib.hgc_model_output_strides(self._handle, index, steps))
        dtype = np.dtype(out.dtype.decode())
        c_order = [int(np.prod(shape[d + 1:], dtype=np.int64))
                   for d in range(out.rank)]
        if all(shape[d] == 1 or steps[d] == c_order[d]
               for d in range(out.rank)):
            return None
        for array in arrays:
            if array.ctypes.data == out.data and array.dtype == dtype:
                return np.lib.stride_tricks.as_strided(
                    array, shape=shape,
                    strides=[steps[d] * dtype.itemsize
                             for d in range(out.rank)])
        raise Error(5, f"output {self.output_names[index]!r} is a view of "
                       "no input")

