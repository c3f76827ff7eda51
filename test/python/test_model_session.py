"""Models in a session (hgc-c/model.h through hgc_jit.Session and `hgc run`):
weights as parameters, compile once per signature, dynamic past, errors."""
import pathlib
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "jit" / "python"))
sys.path.insert(0, str(ROOT / "examples" / "llama"))
import build_model  # noqa: E402
import hgc_jit  # noqa: E402


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("session") / "llama.onnx"
    onnx.save(build_model.build(seed=3), path)
    return path


def next_feeds(feeds, names, outputs):
    """The following decode step: the greedy token, present KV as past."""
    feeds = dict(feeds)
    token = int(np.argmax(outputs[names.index("logits")][0, -1]))
    feeds["input_ids"] = np.full_like(feeds["input_ids"], token)
    feeds["position_ids"] = feeds["position_ids"] + 1
    for name, value in zip(names, outputs):
        if name.startswith("present_"):
            feeds[name.replace("present_", "past_")] = value
    return feeds


def test_decode_loop_compiles_twice_and_matches_onnxruntime(model_path):
    """20 steps, past growing: = onnxruntime each step; the past becomes
    dynamic at step 2, so nothing compiles after it."""
    session = hgc_jit.Session(model_path, policy="full", cache_dir="")
    reference = onnxruntime.InferenceSession(str(model_path))
    feeds = build_model.decode_inputs(onnx.load(model_path), past=37, seed=5)
    compiled = []
    for step in range(20):
        got = session.run(None, feeds)
        want = reference.run(None, feeds)
        for name, a, b in zip(session.output_names, got, want):
            assert a.shape == b.shape, name
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4,
                                       err_msg=f"step {step} {name}")
        if session.last_stats.compiled:
            compiled.append(step)
        feeds = next_feeds(feeds, session.output_names, want)
    assert compiled == [0, 1]
    assert session.last_stats.programs == 2


def test_dynamic_past_equals_static_compile(model_path):
    """The dynamic program at several past lengths and batches = a
    program compiled for that one signature."""
    proto = onnx.load(model_path)
    # No disk cache: the count of programs is this session's own.
    dynamic = hgc_jit.Session(model_path, policy="hgca", window=16,
                              budget="0.25", cache_dir="")
    for past, batch in ((20, 1), (33, 1), (64, 2), (90, 2)):
        feeds = build_model.decode_inputs(proto, past=past, batch=batch,
                                          seed=past)
        static = hgc_jit.Session(model_path, policy="hgca", window=16,
                                 budget="0.25")
        want = static.run(None, feeds)
        got = dynamic.run(None, feeds)
        for name, a, b in zip(dynamic.output_names, got, want):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6,
                                       err_msg=f"past {past} {name}")
    assert dynamic.last_stats.programs < 4


def test_parameters_equal_embedded_constants(tmp_path):
    """Weights mapped from raw_data and from external data = the same
    weights compiled in as constants, bit for bit."""
    proto = build_model.build(layers=1, seed=7)
    inline = tmp_path / "inline.onnx"
    onnx.save(proto, inline)
    external = tmp_path / "external.onnx"
    onnx.save_model(proto, external, save_as_external_data=True,
                    all_tensors_to_one_file=True, location="weights.bin",
                    size_threshold=1024)
    feeds = build_model.decode_inputs(proto, past=24, seed=7)
    embedded = hgc_jit.Session(inline, policy="full", param_min_bytes=-1)
    want = embedded.run(None, feeds)
    for path in (inline, external):
        got = hgc_jit.Session(path, policy="full").run(None, feeds)
        for name, a, b in zip(embedded.output_names, got, want):
            assert np.array_equal(a, b), f"{path.name} {name}"


def test_damaged_weights_and_inputs_are_one_line_errors(tmp_path, hgc):
    proto = build_model.build(layers=1, seed=8)
    path = tmp_path / "model.onnx"
    onnx.save_model(proto, path, save_as_external_data=True,
                    all_tensors_to_one_file=True, location="weights.bin",
                    size_threshold=1024)
    feeds = build_model.decode_inputs(proto, past=16, seed=8)
    session = hgc_jit.Session(path, policy="full")
    # The wrong dtype or rank names the input.
    bad = dict(feeds, past_key_0=feeds["past_key_0"].astype(np.float64))
    with pytest.raises(hgc_jit.Error, match="HGC_SHAPE_MISMATCH.*past_key_0"):
        session.run(None, bad)
    # Truncated after a run mapped it: caught before compiled code reads it.
    session.run(None, feeds)
    weights = tmp_path / "weights.bin"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(hgc_jit.Error, match="HGC_IO.*weights.bin.*changed"):
        session.run(None, feeds)
    # Truncated before a compile: the import names the tensor and the file.
    with pytest.raises(hgc_jit.Error, match="rope_.*weights.bin"):
        hgc_jit.Session(path, policy="full").run(None, feeds)
    args = []
    for name, value in feeds.items():
        np.save(tmp_path / f"{name}.npy", value)
        args += ["--input", f"{name}={tmp_path / name}.npy"]
    result = subprocess.run([hgc, "run", path, *args, "--output-dir",
                             tmp_path / "out"], capture_output=True, text=True)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "weights.bin" in lines[0], result.stderr
    weights.unlink()
    with pytest.raises(hgc_jit.Error, match="weights.bin"):
        hgc_jit.Session(path, policy="full").run(None, feeds)


def test_named_dimensions_must_agree_once_dynamic(model_path):
    proto = onnx.load(model_path)
    session = hgc_jit.Session(model_path, policy="full")
    for past in (10, 11):
        session.run(None, build_model.decode_inputs(proto, past=past))
    feeds = build_model.decode_inputs(proto, past=12)
    feeds["past_value_0"] = feeds["past_value_0"][:, :, :11]
    with pytest.raises(hgc_jit.Error, match="past_value_0.*past = 11"):
        session.run(None, feeds)


def test_bad_options_fail_at_open(model_path, tmp_path):
    with pytest.raises(hgc_jit.Error, match="policy"):
        hgc_jit.Session(model_path, policy="nonsense")
    with pytest.raises(hgc_jit.Error, match="missing.onnx"):
        hgc_jit.Session(tmp_path / "missing.onnx")
