"""`hgc-bench attention` runs and writes the documented JSON rows.

Checks the interface and schema only (a bounded --quick run without peers,
one repeat); speed is measured by the benchmark itself, not by tests.
"""
import json
import subprocess

from conftest import built_tool

FIELDS = {"system", "mode", "batch", "context", "kv_dtype", "budget",
          "time_ms", "gbps", "fraction_of_bandwidth",
          "speedup_vs_onnxruntime"}


def test_quick_rows(tmp_path):
    bench = built_tool("hgc-bench")
    out = tmp_path / "rows.json"
    result = subprocess.run([bench, "attention", "--quick", "--no-peers",
                             "--repeats", "1", "--json", out],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "read bandwidth" in result.stdout
    rows = json.loads(out.read_text())
    assert {r["mode"] for r in rows} == {"dense", "sparse"}
    assert {r["kv_dtype"] for r in rows} == {"f32", "f16", "bf16"}
    assert any(r["mode"] == "dense" and r["kv_dtype"] == "f16"
               and r["context"] >= 16384 for r in rows)
    for row in rows:
        assert FIELDS <= set(row)
        assert row["system"] == "hgc" and row["time_ms"] > 0
        # Timings are the bench's to report, not this test's to bound (a
        # loaded machine stretches any one of them): positive and finite.
        assert 0 < row["fraction_of_bandwidth"] < float("inf")
        assert row["speedup_vs_onnxruntime"] is None  # no peers run
        # Sparse rows over bound buffers time their selection alone too (a
        # share of the step, timed separately: noise can put it above 1 on
        # a busy machine); engine-path (paged) rows do not.
        share = row["selection_share"]
        paged = row["paged_block"] is not None
        assert (share is None) == (row["mode"] == "dense" or paged)
        assert share is None or 0 < share < float("inf")
        # Bytes per tier: the tokens of a sequence on each, and what a step
        # reads there, summing to the row's bytes.
        tiers = row["tiers"]
        assert [t["tier"] for t in tiers][:1] == ["device"]
        assert sum(t["tokens"] for t in tiers) == row["context"]
        read = sum(t["read_bytes"] for t in tiers)
        assert abs(read / row["time_ms"] / 1e6 - row["gbps"]) <= \
            1e-6 * row["gbps"]
    assert {r["policy"] for r in rows if r["mode"] == "sparse"} == \
        {"hgca", "hca", "quest", "sparf"}
    assert {r["channels"] for r in rows if r["policy"] == "sparf"} == {32}
    # hca with int8 codes and with product-quantized ones.
    assert {r["codebook"] for r in rows if r["policy"] == "hca"} == \
        {"int8", "pq16x256"}
    # The engine path: paged KV (vLLM's NHD layout) beside bound buffers.
    assert {(r["paged_block"], r["paged_layout"]) for r in rows} >= {
        (None, None), (16, "nhd"), (64, "nhd")}
    # ... and pages the KV runtime owns, decoded through libhgc.
    assert {r["kv_owner"] for r in rows} == {"bound", "engine", "runtime"}
    assert {(r["policy"], r["paged_block"]) for r in rows
            if r["kv_owner"] == "runtime"} >= {("full", 16), ("full", 64),
                                               ("quest", 64), ("hca", 16),
                                               ("sparf", 16)}


def test_bad_options():
    bench = built_tool("hgc-bench")
    result = subprocess.run([bench, "attention", "--repeats", "zero"],
                            capture_output=True, text=True)
    assert result.returncode == 1 and "--repeats" in result.stderr
    result = subprocess.run([bench, "attention", "--bogus"],
                            capture_output=True, text=True)
    assert result.returncode == 1 and "--bogus" in result.stderr


def test_peers_check_and_time_every_system(tmp_path):
    """bench/attention_peers.py on small shapes: numpy, onnxruntime's
    Attention and GroupQueryAttention, PyTorch SDPA and IREE each checked
    against numpy and timed; bfloat16 (no numpy input) gives null times for
    all but torch, and torch where it is not installed null times with the
    reason, never a crash and never a dropped row."""
    import importlib.util
    import os
    import sys
    torch_here = importlib.util.find_spec("torch") is not None
    shapes = [dict(batch=b, context=t, kv_dtype=dt, q_heads=8, kv_heads=2,
                   head_dim=64)
              for b, t, dt in ((1, 256, "f16"), (2, 100, "f32"),
                               (1, 64, "bf16"))]
    (tmp_path / "shapes.json").write_text(json.dumps(shapes))
    script = os.path.join(os.path.dirname(__file__), "..", "..", "bench",
                          "attention_peers.py")
    result = subprocess.run(
        [sys.executable, script, "--shapes", tmp_path / "shapes.json",
         "--out", tmp_path / "out.json", "--repeats", "2"],
        capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    for line in result.stdout.splitlines():
        if "cannot run" in line:  # only a missing torch may say so
            assert not torch_here and line.startswith("torch-sdpa") and \
                "ModuleNotFoundError" in line, result.stdout
    rows = json.loads((tmp_path / "out.json").read_text())
    systems = {"numpy", "onnxruntime", "onnxruntime-gqa", "torch-sdpa",
               "iree"}
    assert len(rows) == 3 * len(systems)
    for row in rows:
        assert row["system"] in systems
        torch = row["system"] == "torch-sdpa"
        if torch and not torch_here:
            assert row["time_ms"] is None
            assert row["note"].startswith("ModuleNotFoundError"), row
        elif row["kv_dtype"] == "bf16" and not torch:
            assert row["time_ms"] is None and "bfloat16" in row["note"]
        else:
            assert row["time_ms"] > 0, row
