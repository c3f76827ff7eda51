"""The Llama-style example model through `hgc run`, against onnxruntime.

Decode steps over a past (the hybrid-split path) and a prefill of several
tokens with an empty past (causal attention, zero-length past KV), fp32
within 1e-5 (the README's figure). With a keep-all budget the hybrid split must equal full.
"""
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime
import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "examples" / "llama"))
import build_model  # noqa: E402


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = tmp_path_factory.mktemp("llama") / "llama.onnx"
    proto = build_model.build(layers=2, seed=3)
    onnx.save(proto, path)
    return path, proto


def run_hgc(hgc, path, feeds, tmp_path, *placement):
    args = []
    for name, value in feeds.items():
        np.save(tmp_path / f"{name}.npy", value)
        args += ["--input", f"{name}={tmp_path / name}.npy"]
    out = tmp_path / "out"
    result = subprocess.run([hgc, "run", path, *args, "--output-dir", out,
                             *placement], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return {p.stem: np.load(p) for p in out.glob("*.npy")}


def reference(path, feeds):
    session = onnxruntime.InferenceSession(str(path))
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, feeds)))


@pytest.mark.parametrize("past,batch", [(1, 1), (300, 1), (257, 2)])
def test_decode_step_matches_onnxruntime(hgc, model, tmp_path, past, batch):
    path, proto = model
    feeds = build_model.decode_inputs(proto, past=past, batch=batch, seed=past)
    got = run_hgc(hgc, path, feeds, tmp_path)
    want = reference(path, feeds)
    assert set(got) == set(want)
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-5, atol=1e-5,
                                   err_msg=name)


def test_prefill_with_empty_past(hgc, model, tmp_path):
    path, proto = model
    feeds = build_model.decode_inputs(proto, past=0, seed=5)
    feeds["input_ids"] = np.array([[3, 14, 15, 92, 65, 35]], np.int64)
    feeds["position_ids"] = np.arange(6, dtype=np.int64)[None]
    got = run_hgc(hgc, path, feeds, tmp_path)
    want = reference(path, feeds)
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-5, atol=1e-5,
                                   err_msg=name)


@pytest.mark.parametrize("placement", [
    ["--policy", "hgca"], ["--policy", "fluxion"],
    ["--policy", "quest", "--tail", "summary"]], ids=lambda p: "-".join(p))
def test_hybrid_keep_all_equals_full(hgc, model, tmp_path, placement):
    """Full budget is exact, a tail estimate (fluxion's default) included."""
    path, proto = model
    feeds = build_model.decode_inputs(proto, past=500, seed=9)
    (tmp_path / "full").mkdir()
    (tmp_path / "hybrid").mkdir()
    full = run_hgc(hgc, path, feeds, tmp_path / "full")
    hybrid = run_hgc(hgc, path, feeds, tmp_path / "hybrid", *placement,
                     "--window", "64", "--budget", "1.0")
    for name in full:
        np.testing.assert_allclose(hybrid[name], full[name], rtol=1e-5,
                                   atol=1e-5, err_msg=name)


def test_tail_estimate_beats_dropping_on_the_model(hgc, model, tmp_path):
    """At 5% on a random past (near-uniform attention), estimating the
    unselected host tokens keeps the logits closer to onnxruntime's than
    dropping them: hgca's error more than twice fluxion's (its tail on)."""
    path, proto = model
    feeds = build_model.decode_inputs(proto, past=1200, seed=11)
    want = reference(path, feeds)["logits"]
    errors = {}
    for policy in ("hgca", "fluxion"):
        (tmp_path / policy).mkdir()
        got = run_hgc(hgc, path, feeds, tmp_path / policy, "--policy", policy,
                      "--window", "64", "--budget", "0.05")["logits"]
        errors[policy] = np.linalg.norm(got - want) / np.linalg.norm(want)
    assert errors["hgca"] > 2 * errors["fluxion"], errors


def test_external_data_weights(hgc, tmp_path):
    """Weights in a separate file (onnx's external data) load and match."""
    proto = build_model.build(layers=1, seed=4)
    path = tmp_path / "external.onnx"
    onnx.save_model(proto, path, save_as_external_data=True,
                    all_tensors_to_one_file=True, location="weights.bin",
                    size_threshold=1024)
    assert (tmp_path / "weights.bin").stat().st_size > 1 << 20
    assert path.stat().st_size < 64 << 10
    feeds = build_model.decode_inputs(proto, past=40, seed=4)
    (tmp_path / "run").mkdir()
    got = run_hgc(hgc, path, feeds, tmp_path / "run")
    want = reference(path, feeds)
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-4, atol=1e-4,
                                   err_msg=name)
    # A missing weights file is a clear error, not a crash.
    (tmp_path / "weights.bin").unlink()
    args = []
    for name in feeds:
        args += ["--input", f"{name}={tmp_path / 'run' / name}.npy"]
    result = subprocess.run([hgc, "run", path, *args, "--output-dir",
                             tmp_path / "out"], capture_output=True, text=True)
    assert result.returncode == 1
    assert "weights.bin" in result.stderr and "external data" in result.stderr
