"""libhgc through its Python binding: decode steps on runtime-owned KV checked
against float64 numpy, statistics, the kernel cache (memory and disk, across
processes), the emulated cuda target, and the error paths.

Tolerances: 2e-5 absolute for f32 KV (f32 kernels, float64 reference over the
same inputs), 5e-5 for f16/bf16 KV (the reference reads the same rounded KV).
"""
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import reference as ref
from conftest import BUILD, ROOT
from runtime_codes import runtime_pq

sys.path.insert(0, str(ROOT / "jit" / "python"))
import hgc_jit  # noqa: E402

BF16 = "bf16"


def to_numpy_kv(x, dtype):
    """Random KV as the cache stores it, and its exact float64 value."""
    if dtype == "f32":
        stored = x.astype(np.float32)
        return stored, stored.astype(np.float64)
    if dtype == "f16":
        stored = x.astype(np.float16)
        return stored, stored.astype(np.float64)
    bits = (x.astype(np.float32).view(np.uint32) + 0x8000) >> 16
    stored = bits.astype(np.uint16)
    return stored, (stored.astype(np.uint32) << 16).view(np.float32).astype(
        np.float64)


def hot_tokens(n, sink, window):
    """The first `sink` and last `window` tokens: what the kernel attends
    densely (its device tier), wherever the runtime keeps their pages."""
    return sorted(set(range(min(sink, n))) | set(range(max(0, n - window), n)))


def reference(q, k, v, policy, sink, window, budget, block, page, scale=None,
              softcap=0.0, tau=0.9):
    """One sequence: q [H, D], k/v [Hkv, n, D] float64 -> [H, D]. hca
    scores from int8 key codes and keeps by mass (reference.hca_decode);
    sparf on 8 channels folds in the rest (reference.sparf_decode)."""
    if policy == "sparf":
        n = k.shape[1]
        parsed = float(budget) if "." in budget else int(budget)
        out, _, _ = ref.sparf_decode(q[None], k[None], v[None], [n], sink,
                                     window, parsed, 8)
        return out[0]
    if policy == "hca":
        n = k.shape[1]
        parsed = float(budget) if "." in budget else int(budget)
        out, _ = ref.hca_decode(q[None], k[None], v[None], [n], sink, window,
                                parsed, tau)
        return out[0]
    heads, dim = q.shape
    kv_heads, n, _ = k.shape
    group = heads // kv_heads
    scale = 1 / np.sqrt(dim) if not scale else scale
    if policy == "full":
        keep = [list(range(n))] * kv_heads
    else:
        hot = hot_tokens(n, sink, window)
        host = [t for t in range(n) if t not in set(hot)]
        keep = []
        for hk in range(kv_heads):
            s = (q[hk * group:(hk + 1) * group] @ k[hk, host].T).max(0) \
                if host else np.zeros(0)
            if policy == "hgca":
                units = [[t] for t in host]
                unit_scores = s
            else:
                units = [host[i:i + block] for i in range(0, len(host), block)]
                qg = q[hk * group:(hk + 1) * group]
                unit_scores = np.array([
                    np.maximum(qg * k[hk, u].min(0), qg * k[hk, u].max(0))
                    .sum(1).max() for u in units])
            if "." in budget:
                count = int(np.ceil(float(budget) * len(units)))
            else:
                count = -(-int(budget) // (block if policy == "quest" else 1))
            count = min(count, len(units))
            order = np.argsort(-unit_scores, kind="stable")[:count]
            chosen = sorted(t for i in order for t in units[i])
            keep.append(sorted(set(hot) | set(chosen)))
    out = np.zeros((heads, dim))
    for h in range(heads):
        tokens = keep[h // group]
        scores = k[h // group, tokens] @ q[h] * scale
        if softcap > 0:
            scores = softcap * np.tanh(scores / softcap)
        p = np.exp(scores - scores.max())
        out[h] = p @ v[h // group, tokens] / p.sum()
    return out


def make_cache(ctx, config, lengths, layers=2, page=16, seed=0):
    rng = np.random.default_rng(seed)
    cache = ctx.create_cache(config, layers=layers, page_tokens=page)
    exact = {}
    for seq, n in enumerate(lengths):
        cache.add_sequence(seq)
        for layer in range(layers):
            raw = rng.standard_normal((2, config.kv_heads, n, config.head_dim))
            k, k64 = to_numpy_kv(raw[0], config.kv_dtype)
            v, v64 = to_numpy_kv(raw[1], config.kv_dtype)
            cache.append(seq, layer, k, v)
            exact[seq, layer] = (k64, v64)
    return cache, exact


@pytest.fixture(scope="module")
def ctx():
    return hgc_jit.Context(target="host", cache_dir="")


def test_context_targets_take_the_driver_names(ctx):
    """The driver's --target names: host, and nvptx for what the JIT calls
    cuda (the device tier as NVPTX kernels, emulated without a GPU)."""
    assert ctx.target == "host"
    assert hgc_jit.Context(target="nvptx", cache_dir="").target == "cuda"


@pytest.mark.parametrize("dtype", ["f32", "f16", BF16])
@pytest.mark.parametrize("policy,budget", [("full", "0.05"), ("hgca", "0.25"),
                                           ("hgca", "40"), ("quest", "0.3"),
                                           ("hca", "0.5"), ("sparf", "0.3")])
def test_decode_matches_float64(ctx, dtype, policy, budget):
    config = hgc_jit.AttentionConfig(q_heads=8, kv_heads=2, head_dim=64,
                                     kv_dtype=dtype, policy=policy, sink=4,
                                     window=48, budget=budget, block=16,
                                     channels=8)
    lengths = [300, 17, 129]
    cache, exact = make_cache(ctx, config, lengths)
    kernel = ctx.compile(config)
    rng = np.random.default_rng(1)
    queries = rng.standard_normal((3, 8, 64)).astype(np.float32)
    out, stats = cache.decode(kernel, 1, [0, 1, 2], queries)
    tolerance = 2e-5 if dtype == "f32" else 5e-5
    for seq in range(3):
        k, v = exact[seq, 1]
        want = reference(queries[seq].astype(np.float64), k, v, policy, 4, 48,
                         budget, 16, 16)
        np.testing.assert_allclose(out[seq], want, atol=tolerance, rtol=0)
    hot = sum(len(hot_tokens(n, 4, 48)) for n in lengths)
    if policy == "full":
        assert list(stats.tokens) == [sum(lengths), 0]
    else:
        assert list(stats.tokens) == [hot, sum(lengths) - hot]
        assert 0 < stats.selected_tokens <= 2 * stats.tokens[1]
    if policy == "hgca":
        # Counted by the compiled selection: its budget per KV head.
        hosts = [n - len(hot_tokens(n, 4, 48)) for n in lengths]
        keep = [min(int(budget), h) if "." not in budget
                else int(np.ceil(float(budget) * h)) for h in hosts]
        assert stats.selected_tokens == 2 * sum(keep)
    assert stats.bytes_moved > 0 and stats.seconds > 0


def fill_cache(cache, config, lengths, seed):
    """Appends the same random KV to `cache` as make_cache would."""
    rng = np.random.default_rng(seed)
    exact = {}
    for seq, n in enumerate(lengths):
        cache.add_sequence(seq)
        raw = rng.standard_normal((2, config.kv_heads, n, config.head_dim))
        k, k64 = to_numpy_kv(raw[0], config.kv_dtype)
        v, v64 = to_numpy_kv(raw[1], config.kv_dtype)
        # In steps, so that sequences interleave their pages in the tiers.
        for first in range(0, n, 37):
            chunk = slice(first, first + 37)
            cache.append(seq, 0, k[:, chunk], v[:, chunk])
        exact[seq] = (k64, v64)
    return exact


@pytest.mark.parametrize("policy,budget", [("full", "0"), ("hgca", "0.2"),
                                           ("quest", "0.3"), ("hca", "0.3"),
                                           ("sparf", "0.3")])
def test_pages_in_place_equal_pages_copied(ctx, tmp_path, policy, budget):
    """Decodes read the runtime's pages in place through a page table, or,
    when some spilled to the storage tier, copies of them: the same kernel,
    bit-equal outputs, both equal to float64 over the same tokens."""
    config = hgc_jit.AttentionConfig(q_heads=8, kv_heads=2, head_dim=32,
                                     kv_dtype="f16", policy=policy, sink=4,
                                     window=24, budget=budget, block=16,
                                     channels=8)
    lengths = [410, 95]
    kernel = ctx.compile(config)
    roomy = ctx.create_cache(config, layers=1, page_tokens=16, device_pages=3)
    exact = fill_cache(roomy, config, lengths, seed=5)
    spilling = ctx.create_cache(config, layers=1, page_tokens=16,
                                device_pages=3, host_pages=6,
                                storage_dir=str(tmp_path))
    fill_cache(spilling, config, lengths, seed=5)
    queries = np.random.default_rng(6).standard_normal((2, 8, 32))
    for seqs in ([0, 1], [1], [0]):
        q = queries[seqs].astype(np.float32)
        in_place, read = roomy.decode(kernel, 0, seqs, q)
        copied, copying = spilling.decode(kernel, 0, seqs, q)
        np.testing.assert_array_equal(in_place, copied)
        # Only the copies count as bytes moved (beyond queries, outputs and
        # the device tier's few tokens). Pages read in place take no gather
        # time; a batch's key metadata (codes, summaries, channel-major
        # keys) is copied together, and that counts.
        if len(seqs) == 1 or policy == "full":
            assert read.gather_seconds[1] == 0
        assert copying.bytes_moved - read.bytes_moved >= \
            2 * 2 * 16 * 32 * 2 * (sum(lengths[s] for s in seqs) // 16)
        for row, seq in enumerate(seqs):
            k, v = exact[seq]
            want = reference(q[row].astype(np.float64), k, v, policy, 4, 24,
                             budget if policy != "full" else "1.0", 16, 16)
            np.testing.assert_allclose(in_place[row], want, atol=5e-5, rtol=0)


@pytest.mark.parametrize("dtype", ["f32", "f16"])
def test_per_head_overrides(ctx, dtype):
    """KV heads 1 and 3 attend their host tokens exactly (HeadInfer-like),
    head 2 with quest and its own budget (Fluxion-like), 0 with the default."""
    config = hgc_jit.AttentionConfig(
        q_heads=8, kv_heads=4, head_dim=32, kv_dtype=dtype, policy="hgca",
        sink=4, window=32, budget="0.1",
        overrides=[(1, 1, "full", "0"), (3, 1, "full", "0"),
                   (2, 1, "quest", "0.5", 8)])
    cache, exact = make_cache(ctx, config, [260, 75], layers=1, seed=11)
    queries = np.random.default_rng(12).standard_normal((2, 8, 32))
    out, stats = cache.decode(ctx.compile(config), 0, [0, 1], queries)
    policies = {0: ("hgca", "0.1", 16), 1: ("full", None, 16),
                2: ("quest", "0.5", 8), 3: ("full", None, 16)}
    for seq in range(2):
        k, v = exact[seq, 0]
        for hk, (policy, budget, block) in policies.items():
            if policy == "full":  # every host token: exact over all tokens
                policy, budget = "hgca", "1.0"
            want = reference(queries[seq, 2 * hk:2 * hk + 2], k[hk:hk + 1],
                             v[hk:hk + 1], policy, 4, 32, budget, block, 16)
            np.testing.assert_allclose(out[seq, 2 * hk:2 * hk + 2], want,
                                       atol=5e-5, rtol=0)
    assert stats.selected_tokens > 0


def test_scale_and_softcap(ctx):
    config = hgc_jit.AttentionConfig(q_heads=4, kv_heads=4, head_dim=32,
                                     kv_dtype="f32", policy="hgca", sink=2,
                                     window=16, budget="0.5", scale=0.3,
                                     softcap=5.0)
    cache, exact = make_cache(ctx, config, [200], layers=1, seed=3)
    queries = np.random.default_rng(4).standard_normal((1, 4, 32)) * 3
    out, _ = cache.decode(ctx.compile(config), 0, [0], queries)
    k, v = exact[0, 0]
    want = reference(queries[0], k, v, "hgca", 2, 16, "0.5", 16, 16, scale=0.3,
                     softcap=5.0)
    np.testing.assert_allclose(out[0], want, atol=2e-5, rtol=0)


def test_growing_kv_round_trips_bit_exactly(ctx):
    config = hgc_jit.AttentionConfig(q_heads=2, kv_heads=1, head_dim=16,
                                     kv_dtype="f16", policy="hgca", sink=4,
                                     window=32, budget="0.1")
    cache = ctx.create_cache(config, layers=1, page_tokens=8)
    cache.add_sequence(9)
    rng = np.random.default_rng(5)
    appended = []
    for _ in range(120):
        kv = rng.standard_normal((2, 1, 1, 16)).astype(np.float16)
        cache.append(9, 0, kv[0], kv[1])
        appended.append(kv)
    keys, values = cache.read(9, 0)
    want = np.concatenate(appended, axis=2)
    assert keys.tobytes() == want[0].tobytes()
    assert values.tobytes() == want[1].tobytes()
    assert cache.stats()["pages"][1] > 0  # pages moved down as KV grew


def test_in_memory_cache_and_keys(ctx):
    config = hgc_jit.AttentionConfig(q_heads=4, kv_heads=2, head_dim=32,
                                     policy="hgca", window=64)
    first = ctx.compile(config).info()
    again = ctx.compile(config).info()
    assert again["origin"] == "memory" and again["key"] == first["key"]
    other = hgc_jit.AttentionConfig(q_heads=4, kv_heads=2, head_dim=32,
                                    policy="hgca", window=65)
    assert ctx.compile(other).info()["key"] != first["key"]


CHILD = """
import json, sys
import numpy as np
sys.path.insert(0, {python!r})
import hgc_jit
ctx = hgc_jit.Context(target={target!r}, cache_dir={cache!r})
config = hgc_jit.AttentionConfig(q_heads=4, kv_heads=2, head_dim=32,
                                 kv_dtype="f16", policy="hgca", sink=4,
                                 window=32, budget="0.25")
kernel = ctx.compile(config)
cache = ctx.create_cache(config, layers=1, page_tokens=16)
rng = np.random.default_rng(0)
for seq, n in enumerate([150, 90]):
    cache.add_sequence(seq)
    kv = rng.standard_normal((2, 2, n, 32)).astype(np.float16)
    cache.append(seq, 0, kv[0], kv[1])
q = rng.standard_normal((2, 4, 32)).astype(np.float32)
out, _ = cache.decode(kernel, 0, [0, 1], q)
print(json.dumps({{"origin": kernel.info()["origin"],
                   "out": out.ravel().tolist()}}))
"""


def run_child(tmp_path, target="host", env=None):
    script = CHILD.format(python=str(ROOT / "jit" / "python"), target=target,
                          cache=str(tmp_path / "kernels"))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True,
                          text=True, env={**os.environ, **(env or {})},
                          timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_disk_cache_serves_a_new_process(tmp_path):
    first = run_child(tmp_path)
    second = run_child(tmp_path)
    assert first["origin"] == "compiled" and second["origin"] == "disk"
    assert first["out"] == second["out"]
    # hgc_compile's kernel (pages of 64 tokens, the default) and the one
    # the decode compiled for this cache's 16-token pages, both on disk.
    objects = list((tmp_path / "kernels").glob("*.o"))
    assert len(objects) == 2
    # A damaged object is not trusted blindly: it is recompiled or rejected
    # with an error, never run.
    for damaged in objects:
        damaged.write_bytes(b"not an object")
    third = run_child(tmp_path)
    assert third["origin"] == "compiled" and third["out"] == first["out"]


def test_cuda_target_on_the_emulator_equals_host(tmp_path):
    host = run_child(tmp_path / "h")
    cuda = run_child(tmp_path / "c", target="cuda",
                     env={"HGC_RT_GPU": "emulate"})
    np.testing.assert_allclose(cuda["out"], host["out"], atol=1e-5, rtol=0)


def test_error_paths(ctx):
    good = hgc_jit.AttentionConfig(q_heads=4, kv_heads=2, head_dim=32,
                                   policy="hgca", window=32)
    cases = [
        (lambda: ctx.compile(hgc_jit.AttentionConfig(4, 3, 32)),
         "HGC_INVALID_ARGUMENT", "multiple of kv_heads"),
        (lambda: ctx.compile(hgc_jit.AttentionConfig(4, 2, 32, policy="x")),
         "HGC_INVALID_ARGUMENT", "unknown placement policy"),
        (lambda: ctx.compile(hgc_jit.AttentionConfig(
            4, 2, 32, policy="quest", block=12)),
         "HGC_INVALID_ARGUMENT", "power of two"),
        (lambda: ctx.compile(hgc_jit.AttentionConfig(
            4, 2, 32, policy="hca", tau=1.5)),
         "HGC_INVALID_ARGUMENT", "tau must be in (0, 1], got 1.5"),
        (lambda: ctx.compile(hgc_jit.AttentionConfig(
            4, 2, 32, policy="hca", codebook="pqx")),
         "HGC_INVALID_ARGUMENT", "unknown codebook 'pqx'"),
        (lambda: ctx.compile(hgc_jit.AttentionConfig(
            4, 2, 32, policy="sparf", channels=0)),
         "HGC_INVALID_ARGUMENT", "channels must be positive, got 0"),
        (lambda: ctx.compile(hgc_jit.AttentionConfig(
            4, 2, 32, policy="sparf", channels=64)),
         "HGC_INVALID_ARGUMENT",
         "channels 64 of tier 'host' exceed head_dim 32"),
        (lambda: ctx.compile(hgc_jit.AttentionConfig(
            4, 2, 32, policy="hgca", host_capacity=-1)),
         "HGC_INVALID_ARGUMENT", "host-capacity must be >= 0, got -1"),
        # Paged KV the engine owns comes without product-quantized codes.
        (lambda: ctx.compile(hgc_jit.AttentionConfig(
            4, 2, 32, policy="hca", codebook="pq8x16", kv_block_size=16)),
         "HGC_COMPILE", "needs product-quantized codes bound with the cache"),
        (lambda: ctx.compile(hgc_jit.AttentionConfig(
            4, 2, 32, policy="hgca", overrides=[(1, 2, "full", "0.1")])),
         "HGC_INVALID_ARGUMENT", "KV heads [1, 3)"),
        (lambda: ctx.compile(hgc_jit.AttentionConfig(
            4, 2, 32, policy="hgca", overrides=[(0, 1, "full", "0"),
                                                (0, 1, "hgca", "0.1")])),
         "HGC_INVALID_ARGUMENT", "already overridden"),
        (lambda: hgc_jit.Context(target="tpu"), "HGC_INVALID_ARGUMENT",
         "target"),
    ]
    cache = ctx.create_cache(good, layers=1, page_tokens=16, host_pages=2,
                             device_pages=4)
    cache.add_sequence(0)
    kernel = ctx.compile(good)
    kv = np.ones((2, 2, 40, 32), np.float16)
    cache.append(0, 0, kv[0], kv[1])
    q = np.ones((1, 4, 32), np.float32)
    wide = ctx.compile(hgc_jit.AttentionConfig(4, 2, 64, policy="hgca",
                                               window=32))
    cases += [
        (lambda: cache.decode(kernel, 0, [5], q), "HGC_UNKNOWN_SEQUENCE",
         "5"),
        (lambda: cache.decode(kernel, 3, [0], q), "HGC_OUT_OF_RANGE",
         "layer 3"),
        (lambda: cache.decode(kernel, 0, [0], np.ones((1, 4, 16))),
         "HGC_SHAPE_MISMATCH", "queries"),
        (lambda: cache.decode(wide, 0, [0], np.ones((1, 4, 64))),
         "HGC_SHAPE_MISMATCH", "does not fit the cache"),
        (lambda: cache.append(0, 0, np.ones((2, 4000, 32)),
                              np.ones((2, 4000, 32))),
         "HGC_CAPACITY", ""),
        (lambda: cache.append(7, 0, kv[0], kv[1]), "HGC_UNKNOWN_SEQUENCE",
         ""),
        (lambda: cache.append(0, 0, np.ones((3, 1, 32)), np.ones((3, 1, 32))),
         "HGC_SHAPE_MISMATCH", ""),
    ]
    for call, status, text in cases:
        with pytest.raises(hgc_jit.Error) as error:
            call()
        assert error.value.status == status, str(error.value)
        assert text in str(error.value)
    assert cache.length(0, 0) == 40  # failures changed nothing


def test_engine_loop_example():
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "jit_engine_loop.py"),
         "--layers", "2", "--steps", "12", "--lengths", "70,150,33",
         "--window", "32", "--head-dim", "32"],
        capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "every step: exact within" in done.stdout
    assert "KiB moved" in done.stdout


OVERRIDES_ON_TARGETS = """
import sys
sys.path.insert(0, {python!r})
import numpy as np, hgc_jit
results = []
for target in ("host", "cuda"):
    ctx = hgc_jit.Context(target=target, cache_dir="")
    config = hgc_jit.AttentionConfig(
        q_heads=8, kv_heads=4, head_dim=32, kv_dtype="f16", policy="hgca",
        sink=4, window=32, budget="0.1",
        overrides=[(1, 1, "full", "0"), (2, 1, "quest", "0.5", 8)])
    cache = ctx.create_cache(config, layers=1, page_tokens=16)
    cache.add_sequence(0)
    kv = np.random.default_rng(0).standard_normal((2, 4, 700, 32))
    cache.append(0, 0, kv[0].astype(np.float16), kv[1].astype(np.float16))
    q = np.random.default_rng(1).standard_normal((1, 8, 32))
    results.append(cache.decode(ctx.compile(config), 0, [0], q)[0])
print(float(np.abs(results[0] - results[1]).max()))
"""


def test_head_groups_on_the_emulated_cuda_target():
    script = OVERRIDES_ON_TARGETS.format(python=str(ROOT / "jit" / "python"))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True,
                          text=True, timeout=300,
                          env={**os.environ, "HGC_RT_GPU": "emulate"})
    assert done.returncode == 0, done.stderr
    assert float(done.stdout) < 1e-5


@pytest.mark.parametrize("centroids", [16, 512])
def test_hca_pq_reads_the_runtime_codes(ctx, centroids):
    """codebook=pq8x<C>: a cache made for it fits each sequence's codebooks
    (per layer and KV head, k-means, 4 iterations, seed 0) to its first
    append and codes every key on append; the kernels read those codes and
    codebooks in place. Later appends are coded with the prefill's
    codebooks. Outputs equal HCAttention's float64 reference over the keys
    the codes reconstruct (f16 KV, 5e-5)."""
    config = hgc_jit.AttentionConfig(q_heads=8, kv_heads=2, head_dim=64,
                                     kv_dtype="f16", policy="hca", sink=4,
                                     window=48, budget="0.3", tau=0.9,
                                     codebook=f"pq8x{centroids}")
    lengths = [300, 129]
    cache, exact = make_cache(ctx, config, lengths, layers=1)
    rng = np.random.default_rng(12)
    for seq in range(2):  # two decode steps' tokens, coded, not refitted
        raw = rng.standard_normal((2, 2, 2, 64))
        k, k64 = to_numpy_kv(raw[0], "f16")
        v, v64 = to_numpy_kv(raw[1], "f16")
        cache.append(seq, 0, k, v)
        exact[seq, 0] = tuple(np.concatenate([a, b], 1) for a, b in
                              zip(exact[seq, 0], (k64, v64)))
    kernel = ctx.compile(config)
    queries = rng.standard_normal((2, 8, 64)).astype(np.float32)
    out, _ = cache.decode(kernel, 0, [0, 1], queries)
    for seq, n in enumerate(lengths):
        k, v = exact[seq, 0]
        codes, books = runtime_pq(k[None].astype(np.float32), 8, centroids,
                                  iterations=4, seed=0, prefill=n)
        wide = np.uint16 if centroids > 256 else np.uint8
        approx = ref.pq_reconstruct(codes.view(wide), books)
        want, _ = ref.hca_decode(queries[seq:seq + 1].astype(np.float64),
                                 k[None], v[None], [n + 2], 4, 48, 0.3, 0.9,
                                 approx=approx)
        np.testing.assert_allclose(out[seq], want[0], atol=5e-5, rtol=0)
