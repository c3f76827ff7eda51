"""`pip install .`: the `hgc` wheel (scikit-build-core over this CMake
project, pyproject.toml), installed into a fresh virtual environment, runs
an engine's decode loop from the installed package, against float64 numpy
(f16 KV, 2e-3), and its `hgc` command is the driver.

The wheel is built without build isolation (scikit-build-core comes from
scripts/requirements.txt) into build/wheel, so a second run is incremental;
the fresh environment gets numpy from the package index like any user's.
"""
import json
import subprocess
import sys

import pytest

from conftest import BUILD, ROOT

ENGINE_LOOP = """
import json
import numpy as np
import hgc
ctx = hgc.Context(target="host", cache_dir="")
config = hgc.AttentionConfig(q_heads=8, kv_heads=2, head_dim=64,
                             kv_dtype="f16", policy="full")
kernel = ctx.compile(config)
cache = ctx.create_cache(config, layers=1, page_tokens=16)
cache.add_sequence(0)
rng = np.random.default_rng(0)
keys = rng.standard_normal((2, 90, 64)).astype(np.float16)
values = rng.standard_normal((2, 90, 64)).astype(np.float16)
cache.append(0, 0, keys, values)
worst = 0.0
for step in range(4):
    k = rng.standard_normal((2, 1, 64)).astype(np.float16)
    v = rng.standard_normal((2, 1, 64)).astype(np.float16)
    cache.append(0, 0, k, v)
    keys, values = np.concatenate([keys, k], 1), np.concatenate([values, v], 1)
    q = rng.standard_normal((1, 8, 64)).astype(np.float32)
    out, _ = cache.decode(kernel, 0, [0], q)
    qg = q[0].astype(np.float64).reshape(2, 4, 64)
    s = np.einsum("hgd,htd->hgt", qg, keys.astype(np.float64)) / 8.0
    p = np.exp(s - s.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    want = np.einsum("hgt,htd->hgd", p, values.astype(np.float64))
    worst = max(worst, float(np.abs(out[0] - want.reshape(8, 64)).max()))
try:
    ctx.compile(hgc.AttentionConfig(8, 3, 64))
    typed = None
except hgc.InvalidArgumentError as error:
    typed = str(error)
print(json.dumps({"file": hgc.__file__, "worst": worst, "typed": typed,
                  "version": hgc.__version__}))
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps",
         "--no-build-isolation", "-w", str(out),
         "-C", f"build-dir={BUILD / 'wheel'}"],
        capture_output=True, text=True, timeout=3000)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (built,) = out.glob("hgc-0.1.0-*.whl")
    return built


@pytest.fixture(scope="module")
def fresh_env(wheel, tmp_path_factory):
    env = tmp_path_factory.mktemp("venv") / "fresh"
    subprocess.run([sys.executable, "-m", "venv", str(env)], check=True,
                   timeout=300)
    done = subprocess.run([str(env / "bin" / "pip"), "install", "-q",
                           str(wheel)], capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    return env


def test_wheel_holds_the_package_and_libraries(wheel):
    import zipfile
    names = zipfile.ZipFile(wheel).namelist()
    for name in ("hgc/__init__.py", "hgc/_jit.py", "hgc/lib/libhgc.so",
                 "hgc/lib/libhgc_runtime.so", "hgc/bin/hgc"):
        assert name in names, names


def test_engine_loop_from_the_installed_package(fresh_env, tmp_path):
    # Run away from the source tree: only the installed package is found.
    done = subprocess.run([str(fresh_env / "bin" / "python"), "-c",
                           ENGINE_LOOP], capture_output=True, text=True,
                          timeout=600, cwd=tmp_path,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["file"].startswith(str(fresh_env)), result["file"]
    assert result["worst"] < 2e-3
    assert result["typed"].startswith("HGC_INVALID_ARGUMENT: q_heads (8)")
    assert result["version"] == "0.1.0"


def test_the_hgc_command_is_the_driver(fresh_env, tmp_path):
    done = subprocess.run([str(fresh_env / "bin" / "hgc"), "--help"],
                          capture_output=True, text=True, timeout=120,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("OVERVIEW: hgc: hybrid CPU-GPU attention")
