"""Three and four tiers: device, host, far memory (`cxl`: CXL-attached memory
or another socket's NUMA node; emulated in host memory on this machine) and
storage.

Compiled programs (hgc-runner --split with --host-capacity/--far-capacity,
the placement vocabulary of every entry point): a budget that keeps every
token is exact against float64 (f32 2e-5) with three and four tiers; a
sparse exact top-k selects per tier (each tier its own top fraction) and
equals a float64 reference that does the same. JIT over the runtime cache:
a cache whose pages spill host -> far -> storage (the far tier paced to an
emulated link or not) decodes bit-equal to one whose pages all stay in
place, both exact at full budget; every token reads back bit-exactly.
"""
import sys

import numpy as np
import pytest

import reference as ref
from conftest import ROOT
from test_hybrid_end_to_end import run_step

sys.path.insert(0, str(ROOT / "jit" / "python"))
import hgc_jit  # noqa: E402

SINK, WINDOW, HOST, FAR = 4, 16, 24, 32
PAST = 99  # 100 tokens: 20 hot, 24 host, 32 far, 24 storage


def tiered_topk(q, k, v, n, sink, window, fraction, capacities):
    """Exact top-k per tier, float64: each cold tier keeps its own top
    ceil(fraction x its tokens) per KV head (score: max over the group's
    query heads), all attended with the hot set."""
    batch, q_heads, dim = q.shape
    kv_heads = k.shape[1]
    group = q_heads // kv_heads
    scores = ref.select_scores(q, k)
    out = np.zeros((batch, q_heads, v.shape[3]))
    for b in range(batch):
        ranges = ref.tier_ranges(n, sink, window, capacities)
        for hk in range(kv_heads):
            chosen = list(ranges[0])
            for tier in ranges[1:]:
                keep = int(np.ceil(fraction * len(tier)))
                order = np.argsort(-scores[b, hk, tier], kind="stable")[:keep]
                chosen += [tier[i] for i in order]
            for h in range(hk * group, (hk + 1) * group):
                out[b, h], _ = ref.attend(q[b, h], k[b, hk, chosen],
                                          v[b, hk, chosen])
    return out


TIERED = [f"--sink={SINK}", f"--window={WINDOW}", f"--host-capacity={HOST}"]


@pytest.mark.parametrize("policy_args", [
    ["--policy=hgca", "--budget=1.0"] + TIERED,
    ["--policy=hgca", "--budget=1.0", f"--far-capacity={FAR}"] + TIERED,
    ["--policy=quest", "--budget=1.0", "--block=8",
     f"--far-capacity={FAR}"] + TIERED,
], ids=["hgca-3-tiers", "hgca-4-tiers", "quest-4-tiers"])
def test_tiers_keep_all_is_exact(hgc_runner, tmp_path, policy_args):
    y, q, keys, vals = run_step(hgc_runner, tmp_path, "f32", (8, 2), PAST,
                                policy_args, seed=11)
    want, _ = ref.partial_attention(q, keys, vals, [PAST + 1] * 2)
    np.testing.assert_allclose(y, want, atol=2e-5, rtol=2e-5)


def test_four_tiers_select_per_tier(hgc_runner, tmp_path):
    args = ["--policy=hgca", "--budget=0.25", f"--far-capacity={FAR}"] + TIERED
    y, q, keys, vals = run_step(hgc_runner, tmp_path, "f32", (8, 2), PAST,
                                args, seed=12)
    want = tiered_topk(q, keys, vals, PAST + 1, SINK, WINDOW, 0.25,
                       [HOST, FAR, 0])
    np.testing.assert_allclose(y, want, atol=2e-5, rtol=2e-5)
    exact, _ = ref.partial_attention(q, keys, vals, [PAST + 1] * 2)
    assert np.abs(y - exact).max() > 1e-4, "a sparse budget is not exact"


@pytest.mark.parametrize("far_bandwidth_gbs", [0.0, 2.0],
                         ids=["unpaced", "paced"])
def test_jit_far_pages_decode_bit_equal(tmp_path, far_bandwidth_gbs):
    ctx = hgc_jit.Context(target="host", cache_dir="")
    config = hgc_jit.AttentionConfig(q_heads=8, kv_heads=2, head_dim=32,
                                     kv_dtype="f32", policy="hgca", sink=4,
                                     window=32, budget="1.0",
                                     host_capacity=128, far_capacity=256)
    kernel = ctx.compile(config)
    rng = np.random.default_rng(3)
    lengths = [700, 333]
    roomy = ctx.create_cache(config, layers=1, page_tokens=16)
    tiered = ctx.create_cache(config, layers=1, page_tokens=16,
                              device_pages=8, host_pages=10,
                              far_pages=12,
                              far_bandwidth_gbs=far_bandwidth_gbs,
                              storage_dir=str(tmp_path))
    exact = {}
    for seq, n in enumerate(lengths):
        k, v = rng.standard_normal((2, 2, n, 32)).astype(np.float32)
        for cache in (roomy, tiered):
            cache.add_sequence(seq)
            for first in range(0, n, 50):
                cache.append(seq, 0, k[:, first:first + 50],
                             v[:, first:first + 50])
        exact[seq] = (k.astype(np.float64), v.astype(np.float64))
    pages = tiered.stats()["pages"]
    assert pages[2] > 0 and pages[3] > 0, pages  # far and storage hold some
    assert pages[1] <= 10 and pages[2] <= 12
    q = rng.standard_normal((2, 8, 32)).astype(np.float32)
    in_place, _ = roomy.decode(kernel, 0, [0, 1], q)
    spilled, stats = tiered.decode(kernel, 0, [0, 1], q)
    np.testing.assert_array_equal(in_place, spilled)
    assert stats.gather_seconds[1] > 0  # far and storage pages are copied
    for seq, (k, v) in exact.items():
        want, _ = ref.partial_attention(q[seq:seq + 1].astype(np.float64),
                                        k[None], v[None])
        np.testing.assert_allclose(spilled[seq], want[0], atol=1e-5,
                                   rtol=1e-5)
        keys, values = tiered.read(seq, 0, 0, lengths[seq])
        np.testing.assert_array_equal(keys, k.astype(np.float32))
        np.testing.assert_array_equal(values, v.astype(np.float32))


def test_jit_far_capacity_needs_host_capacity():
    ctx = hgc_jit.Context(target="host", cache_dir="")
    config = hgc_jit.AttentionConfig(q_heads=8, kv_heads=2, head_dim=32,
                                     policy="hgca", far_capacity=64)
    with pytest.raises(hgc_jit.Error, match="far-capacity needs a "
                                            "host-capacity"):
        ctx.compile(config)


def test_jit_mapping_moves_hot_pages_up_and_stays_exact(tmp_path):
    """HybridGen's semantic mapping through the JIT: pages whose reported
    attention mass is highest move to the host, the coldest down to far
    memory and storage; every tier keeps its page count, every token reads
    back bit-exactly, and a keep-all step stays exact."""
    ctx = hgc_jit.Context(target="host", cache_dir="")
    config = hgc_jit.AttentionConfig(q_heads=4, kv_heads=2, head_dim=16,
                                     kv_dtype="f32", policy="hgca", sink=4,
                                     window=16, budget="1.0",
                                     host_capacity=64, far_capacity=64)
    cache = ctx.create_cache(config, layers=1, page_tokens=16,
                             host_pages=4, far_pages=4,
                             storage_dir=str(tmp_path))
    rng = np.random.default_rng(8)
    n = 16 * 14  # pages 0 and 13 hot; 4 host, 4 far, 4 storage
    k, v = rng.standard_normal((2, 2, n, 16)).astype(np.float32)
    cache.add_sequence(0)
    cache.append(0, 0, k, v)
    tiers = [cache.page_tier(0, 0, p) for p in range(14)]
    assert tiers == [0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 0]
    before = cache.stats()["pages"]
    # Storage's pages hottest, the host's coldest, far's in between.
    mass = np.array([0, .1, .2, .3, .4, 2, 2.1, 2.2, 2.3, 9, 8, 7, 6, 0])
    cache.add_page_mass(0, 0, mass)
    cache.remap(0, 0, margin=0.1)
    tiers = [cache.page_tier(0, 0, p) for p in range(14)]
    assert tiers == [0, 3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0]
    assert cache.stats()["pages"] == before
    keys, values = cache.read(0, 0)
    np.testing.assert_array_equal(keys, k)
    np.testing.assert_array_equal(values, v)
    kernel = ctx.compile(config)
    q = rng.standard_normal((1, 4, 16)).astype(np.float32)
    out, _ = cache.decode(kernel, 0, [0], q)
    want, _ = ref.partial_attention(q.astype(np.float64),
                                    k[None].astype(np.float64),
                                    v[None].astype(np.float64))
    np.testing.assert_allclose(out, want, atol=1e-5, rtol=1e-5)
    with pytest.raises(hgc_jit.Error, match="decay must be in"):
        cache.add_page_mass(0, 0, mass, decay=2.0)


def test_periodic_recall_maps_cold_tiers_by_mass(tmp_path):
    """With periodic recall the JIT measures each cold page's mass from the
    steps' real queries; the hottest page goes to the device (recall) and,
    through the runtime's mapping, the next hottest from storage up to the
    host, trading places with a page no query looked at. Nothing is lost."""
    from test_recall import PAGE, config_for, make
    ctx = hgc_jit.Context(target="host", cache_dir="")
    config = config_for()
    cache, stored, exact = make(ctx, config, recall_period=1, recall_blocks=1,
                                host_pages=6, far_pages=6,
                                storage_dir=str(tmp_path))
    kernel = ctx.compile(config)
    # Sequence 0's cold pages 1-6 on the host, 7-12 far, 13-15 in storage.
    targets = (13, 14)
    assert [cache.page_tier(0, 0, p) for p in targets] == [3, 3]
    k = exact[0][0]
    for step in range(4):
        q = np.zeros((2, 8, 64), np.float32)
        for h in range(8):
            # Heads of KV head 0 look at page 13 hardest, KV head 1 at 14.
            page = targets[h // 4]
            q[:, h] = (4 if page == 13 else 3) * k[h // 4, page * PAGE + step]
        cache.decode_selected(kernel,
                              cache.select_ahead(kernel, 0, [0, 1], q), q)
    tiers = sorted(cache.page_tier(0, 0, p) for p in targets)
    assert tiers == [0, 1], tiers  # one recalled, the other on the host
    assert cache.recalled(0, 0)[0] in targets
    for seq in range(2):
        keys, values = cache.read(seq, 0)
        assert keys.tobytes() == stored[seq][0].tobytes()
        assert values.tobytes() == stored[seq][1].tobytes()
