"""The KV runtime's key codes through ctypes (libhgc_runtime.so): what a
cache keeps on append and what an engine binds, for the tests and benches
that compare programs against them.
"""
import ctypes
import os
import pathlib

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("HGC_BUILD_DIR", ROOT / "build"))
RUNTIME_DTYPE = {"f32": 0, "f16": 1, "bf16": 2}  # hgc_rt_dtype


def _runtime():
    return ctypes.CDLL(str(BUILD / "lib" / "libhgc_runtime.so"))


def runtime_codes(fed, elt):
    """hgc_rt_quantize_keys (what a runtime cache keeps on append) of the
    keys as fed: (codes, scales)."""
    runtime = _runtime()
    keys = np.ascontiguousarray(fed)
    dim = keys.shape[-1]
    tokens = keys.size // dim
    codes = np.empty(keys.shape, np.int8)
    scales = np.empty(keys.shape[:-1], np.float32)
    status = runtime.hgc_rt_quantize_keys(
        ctypes.c_int(RUNTIME_DTYPE[elt]), ctypes.c_int32(dim),
        ctypes.c_int64(tokens), keys.ctypes.data_as(ctypes.c_void_p),
        codes.ctypes.data_as(ctypes.c_void_p),
        scales.ctypes.data_as(ctypes.c_void_p))
    assert status == 0
    return codes, scales


def runtime_pq(keys, subspaces, centroids, iterations=6, seed=1,
               prefill=None):
    """hgc_rt_pq_fit on each (sequence, KV head)'s first `prefill` keys
    (all by default), then hgc_rt_pq_encode of every key: (codes [b, h, t, G]
    as i8/i16 bits, codebooks [b, h, G, C, d / G] f32)."""
    runtime = _runtime()
    b, h, t, d = keys.shape
    books = np.empty((b, h, subspaces, centroids, d // subspaces), np.float32)
    wide = centroids > 256
    codes = np.empty((b, h, t, subspaces), np.uint16 if wide else np.uint8)
    for bi in range(b):
        for hk in range(h):
            row = np.ascontiguousarray(keys[bi, hk], np.float32)
            book = np.empty(books.shape[2:], np.float32)
            assert runtime.hgc_rt_pq_fit(
                ctypes.c_int(0), ctypes.c_int32(d),
                ctypes.c_int64(t if prefill is None else min(prefill, t)),
                row.ctypes.data_as(ctypes.c_void_p), ctypes.c_int32(subspaces),
                ctypes.c_int32(centroids), ctypes.c_int32(iterations),
                ctypes.c_uint64(seed), book.ctypes.data_as(ctypes.c_void_p)) == 0
            code = np.empty((t, subspaces), codes.dtype)
            assert runtime.hgc_rt_pq_encode(
                ctypes.c_int(0), ctypes.c_int32(d), ctypes.c_int64(t),
                row.ctypes.data_as(ctypes.c_void_p), ctypes.c_int32(subspaces),
                ctypes.c_int32(centroids), book.ctypes.data_as(ctypes.c_void_p),
                code.ctypes.data_as(ctypes.c_void_p)) == 0
            books[bi, hk], codes[bi, hk] = book, code
    return codes.view(np.int16 if wide else np.int8), books
