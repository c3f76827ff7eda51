"""Compiled models kept on disk: the cache a later process links instead of
compiling, and compiled-model folders (`hgc compile -o X.hgcm`) that run
without compiling."""
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
from conftest import compile_artifact  # noqa: E402

CHILD = """
import sys, numpy as np
sys.path.insert(0, {python!r}); sys.path.insert(0, {examples!r})
import hgc_jit, build_model, onnx
feeds = build_model.decode_inputs(onnx.load({model!r}), past={past})
session = hgc_jit.Session({model!r}, policy="hgca", window=8,
                          cache_dir={cache!r})
outputs = session.run(None, feeds)
np.save({out!r}, outputs[0])
print(session.last_stats.compiled, session.last_stats.loaded)
"""


def child(model, cache, past, out):
    code = CHILD.format(python=str(ROOT / "jit" / "python"),
                        examples=str(ROOT / "examples" / "llama"),
                        model=str(model), cache=str(cache), past=past,
                        out=str(out))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr
    return tuple(int(x) for x in result.stdout.split())


@pytest.fixture
def model(tmp_path):
    path = tmp_path / "llama.onnx"
    onnx.save_model(build_model.build(seed=11), path,
                    save_as_external_data=True,
                    all_tensors_to_one_file=True, location="llama.bin",
                    size_threshold=1024)
    return path


def test_later_processes_link_instead_of_compiling(model, tmp_path):
    cache = tmp_path / "cache"
    assert child(model, cache, 30, tmp_path / "a.npy") == (1, 0)
    assert child(model, cache, 30, tmp_path / "b.npy") == (0, 1)
    assert np.array_equal(np.load(tmp_path / "a.npy"),
                          np.load(tmp_path / "b.npy"))
    # Another past length is another signature; a changed model another key.
    assert child(model, cache, 31, tmp_path / "c.npy") == (1, 0)
    onnx.save_model(build_model.build(seed=12), model,
                    save_as_external_data=True,
                    all_tensors_to_one_file=True, location="llama.bin",
                    size_threshold=1024)
    assert child(model, cache, 30, tmp_path / "d.npy") == (1, 0)
    assert not np.array_equal(np.load(tmp_path / "a.npy"),
                              np.load(tmp_path / "d.npy"))


def test_damaged_cache_compiles_again(model, tmp_path):
    cache = tmp_path / "cache"
    child(model, cache, 20, tmp_path / "a.npy")
    for manifest in cache.glob("*.json"):
        manifest.write_text("{not json")
    assert child(model, cache, 20, tmp_path / "b.npy") == (1, 0)
    for obj in cache.glob("*.o"):
        obj.write_bytes(b"garbage")
    assert child(model, cache, 20, tmp_path / "c.npy") == (1, 0)
    assert np.array_equal(np.load(tmp_path / "a.npy"),
                          np.load(tmp_path / "c.npy"))


def run_hgc(hgc, model, feeds, tmp_path, *extra):
    args = []
    for name, value in feeds.items():
        np.save(tmp_path / f"{name}.npy", value)
        args += ["--input", f"{name}={tmp_path / name}.npy"]
    out = tmp_path / "out"
    result = subprocess.run([hgc, "run", model, *args, "--output-dir", out,
                             *extra], capture_output=True, text=True)
    return result, out


def test_compiled_model_runs_every_past_without_compiling(model, tmp_path,
                                                          hgc):
    artifact = tmp_path / "llama.hgcm"
    result = subprocess.run([hgc, "compile", model, "-o", artifact, "--dim",
                             "batch=1", "--dim", "seq=1", "--policy", "full"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    proto = onnx.load(model)
    reference = onnxruntime.InferenceSession(str(model))
    for past in (40, 97):
        feeds = build_model.decode_inputs(proto, past=past, seed=past)
        result, out = run_hgc(hgc, artifact, feeds, tmp_path)
        assert result.returncode == 0, result.stderr
        assert "loaded in" in result.stderr
        names = [o.name for o in reference.get_outputs()]
        for name, want in zip(names, reference.run(None, feeds)):
            np.testing.assert_allclose(np.load(out / f"{name}.npy"), want,
                                       rtol=1e-4, atol=1e-4, err_msg=name)
    # The same folder through the Python session.
    session = hgc_jit.Session(artifact)
    session.run(None, feeds)
    assert not session.last_stats.compiled and session.last_stats.loaded
    # A batch it was not compiled for is a one-line error.
    feeds = build_model.decode_inputs(proto, past=40, batch=2)
    result, _ = run_hgc(hgc, artifact, feeds, tmp_path)
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert "no compiled program serves these inputs" in result.stderr
    # A model changed since: compile again, says the error.
    onnx.save_model(build_model.build(seed=13), model,
                    save_as_external_data=True,
                    all_tensors_to_one_file=True, location="llama.bin",
                    size_threshold=1024)
    result, _ = run_hgc(hgc, artifact, feeds, tmp_path)
    assert result.returncode == 1 and "compile it again" in result.stderr


def test_compile_without_sizes_serves_every_shape(model, tmp_path, hgc):
    """Dims without sizes stay dynamic: one artifact runs decode steps of
    several batches and past lengths without compiling, each equal to
    onnxruntime."""
    artifact = compile_artifact(hgc, model, tmp_path / "x.hgcm")
    session = hgc_jit.Session(artifact, cache_dir="")
    reference = onnxruntime.InferenceSession(str(model))
    proto = onnx.load(model, load_external_data=False)
    for batch, past in [(1, 17), (3, 40)]:
        feeds = build_model.decode_inputs(proto, past=past, batch=batch)
        got = session.run(None, feeds)
        assert not session.last_stats.compiled
        for a, b in zip(got, reference.run(None, feeds)):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def test_hgc_run_caches_across_processes(model, tmp_path, hgc):
    feeds = build_model.decode_inputs(onnx.load(model), past=25)
    cache = tmp_path / "cache"
    first, out = run_hgc(hgc, model, feeds, tmp_path, "--cache-dir", cache)
    assert first.returncode == 0 and "compiled in" in first.stderr
    want = np.load(out / "logits.npy")
    second, out = run_hgc(hgc, model, feeds, tmp_path, "--cache-dir", cache)
    assert second.returncode == 0 and "loaded in" in second.stderr
    assert np.array_equal(np.load(out / "logits.npy"), want)
