"""HCAttention's eviction in the JIT: a cache made with evict_after and a
storage tier moves a cold page none of whose tokens a selection kept for
evict_after steps to storage, and brings it back when a selection keeps one
of its tokens again. Steps read evicted pages through copies: their outputs
equal a twin cache's without eviction, and every token reads back
bit-exactly. hca (int8 codes, tau 0.9) over selections made ahead; f16 KV.
"""
import sys

import numpy as np
import pytest

from conftest import ROOT
from test_recall import LENGTHS, PAGE, SINK, WINDOW, make

sys.path.insert(0, str(ROOT / "jit" / "python"))
import hgc_jit  # noqa: E402


def config_for(policy="hca"):
    return hgc_jit.AttentionConfig(q_heads=8, kv_heads=2, head_dim=64,
                                   kv_dtype="f16", policy=policy, sink=SINK,
                                   window=WINDOW, budget="0.1", tau=0.9)


def looking_for(exact, pages, step):
    """Queries whose heads each look for a token of one of `pages`."""
    q = np.zeros((2, 8, 64), np.float32)
    for seq in range(2):
        k = exact[seq][0]
        for h in range(8):
            q[seq, h] = 3 * k[h // 4, pages[(h + step) % len(pages)] * PAGE
                              + step % PAGE]
    return q


def step_both(kernel, cache, twin, q):
    """One step over a selection made ahead on `cache` and on its `twin`
    without eviction: the outputs agree; `cache`'s step statistics."""
    out, stats = cache.decode_selected(
        kernel, cache.select_ahead(kernel, 0, [0, 1], q), q)
    want, _ = twin.decode_selected(
        kernel, twin.select_ahead(kernel, 0, [0, 1], q), q)
    np.testing.assert_allclose(out, want, atol=1e-6, rtol=0)
    return stats


@pytest.fixture(scope="module")
def ctx():
    return hgc_jit.Context(target="host", cache_dir="")


def test_unkept_pages_go_to_storage_and_come_back(ctx, tmp_path):
    config = config_for()
    cache, stored, exact = make(ctx, config, storage_dir=tmp_path,
                                evict_after=2)
    twin, _, _ = make(ctx, config)
    kernel = ctx.compile(config)
    # Steps that keep tokens of pages 3, 5 and 7 only: after two steps the
    # other cold pages of both sequences are evicted.
    evicted = restored = 0
    for step in range(4):
        stats = step_both(kernel, cache, twin,
                          looking_for(exact, [3, 5, 7], step))
        evicted += stats.evicted_pages
        restored += stats.restored_pages
    cold = sum((n - WINDOW) // PAGE - SINK // PAGE for n in LENGTHS)
    on_storage = cache.stats()["pages"][3]
    assert evicted == on_storage and restored == 0
    assert cold - 6 <= on_storage < cold  # the kept pages stay
    # Looking for pages 9 and 10 now brings them back.
    for step in range(2):
        stats = step_both(kernel, cache, twin, looking_for(exact, [9, 10], step))
        restored += stats.restored_pages
    assert restored >= 4  # pages 9 and 10 of both sequences
    assert cache.stats()["pages"][3] <= on_storage - 4 + 6
    for seq in range(2):
        k, v = cache.read(seq, 0)
        assert k.tobytes() == stored[seq][0].tobytes()
        assert v.tobytes() == stored[seq][1].tobytes()


def test_bad_eviction_options_are_one_line_errors(ctx, tmp_path):
    config = config_for()
    with pytest.raises(hgc_jit.Error, match="evict_after needs a storage "
                       "tier to evict to"):
        ctx.create_cache(config, layers=1, page_tokens=PAGE, evict_after=2)
    with pytest.raises(hgc_jit.Error,
                       match="evict_after must be >= 0, got -1"):
        ctx.create_cache(config, layers=1, page_tokens=PAGE,
                         storage_dir=tmp_path, evict_after=-1)
    with pytest.raises(hgc_jit.Error, match="eviction needs a hybrid "
                       "placement; policy 'full'"):
        ctx.create_cache(config_for("full"), layers=1, page_tokens=PAGE,
                         storage_dir=tmp_path, evict_after=2)
