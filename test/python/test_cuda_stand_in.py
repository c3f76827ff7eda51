"""Compiled programs on their CUDA path, without a GPU.

The runtime's stand-in CUDA driver (runtime/test/FakeCudaDriver.cpp,
HGC_RT_CUDA_LIBRARY) keeps device memory apart from host memory, runs
queued work only when a stream or event is synchronized, and launches each
kernel as its host twin on the SIMT emulator: so `hgc-runner` and the JIT go
through module load, launches, streams, events and copies exactly as on a
GPU. Outputs must equal the emulated back end's bit for bit; every failure
the driver injects (HGC_FAKE_CUDA_*) must end the run with a one-line error
and a non-zero status, never a crash or a wrong answer; and a cache with
device_mirror must lose no token when the device is lost mid-decode.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import BUILD, ROOT
from test_hybrid_end_to_end import attention_program

FAKE = str(BUILD / "lib" / "libhgc_fake_cuda.so")
STAND_IN = {"HGC_RT_CUDA_LIBRARY": FAKE, "HGC_RT_GPU_TIMING": "1"}
HYBRID = ["--split", "--policy=hgca", "--sink=3", "--window=40",
          "--budget=0.25", "--target=nvptx"]


def run_runner(runner, tmp_path, env, repeat=2):
    rng = np.random.default_rng(21)
    b, hq, hkv, past, d = 2, 8, 2, 150, 64
    tmp_path.mkdir(parents=True, exist_ok=True)
    program = tmp_path / "program.mlir"
    program.write_text(attention_program(b, hq, hkv, past, d, "f32"))
    args = [str(runner), str(program), "--output-dir", str(tmp_path / "out"),
            f"--repeat={repeat}"] + HYBRID
    for i, shape in enumerate([(b, hq, 1, d), (b, hkv, 1, d), (b, hkv, 1, d),
                               (b, hkv, past, d), (b, hkv, past, d)]):
        path = tmp_path / f"arg{i}.npy"
        np.save(path, rng.standard_normal(shape).astype(np.float32))
        args.append(f"--input=arg{i}={path}")
    done = subprocess.run(args, capture_output=True, text=True, timeout=300,
                          env={**os.environ, **env})
    return done


def test_hybrid_program_runs_its_cuda_path(hgc_runner, tmp_path):
    cuda = run_runner(hgc_runner, tmp_path / "cuda", STAND_IN)
    assert cuda.returncode == 0, cuda.stderr
    report = json.loads(cuda.stdout)
    assert report["backend"] == "cuda"
    # Both kernels (partial attention and its merge), timed by events.
    assert report["launches_per_run"] == 2
    emulated = run_runner(hgc_runner, tmp_path / "emu",
                          {"HGC_RT_GPU": "emulate"})
    assert emulated.returncode == 0, emulated.stderr
    assert json.loads(emulated.stdout)["backend"] == "emulated"
    np.testing.assert_array_equal(
        np.load(tmp_path / "cuda" / "out" / "out0.npy"),
        np.load(tmp_path / "emu" / "out" / "out0.npy"))


@pytest.mark.parametrize("fault, message", [
    ({"HGC_FAKE_CUDA_FAIL_LAUNCHES": "1"},
     "cuLaunchKernel failed with CUDA error 719"),
    ({"HGC_FAKE_CUDA_FAIL_ALLOCATIONS": "1"},
     "cannot allocate 4096 bytes of device memory"),
    ({"HGC_FAKE_CUDA_FAIL_COPIES": "1"},
     "cuMemcpyAsync failed with CUDA error 1"),
    ({"HGC_FAKE_CUDA_LOSE_DEVICE_AT_LAUNCH": "2"},
     "failed with CUDA error 46"),
], ids=["launch", "out-of-memory", "copy", "lost-mid-step"])
def test_cuda_failures_are_one_line_errors(hgc_runner, tmp_path, fault,
                                           message):
    done = run_runner(hgc_runner, tmp_path, {**STAND_IN, **fault}, repeat=1)
    assert done.returncode == 1, done.stdout + done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("hgc-runner: error: running @main: ")
    assert line.endswith(message)


DECODE_LOOP = """
import json, sys
sys.path.insert(0, {python!r})
import numpy as np, hgc_jit
ctx = hgc_jit.Context(target="cuda", cache_dir="")
config = hgc_jit.AttentionConfig(q_heads=4, kv_heads=2, head_dim=32,
                                 kv_dtype="f16", policy="hgca", sink=4,
                                 window=32, budget="0.25")
kernel = ctx.compile(config)
cache = ctx.create_cache(config, layers=1, page_tokens=16,
                         device_mirror={mirror})
rng = np.random.default_rng(3)
cache.add_sequence(0)
keys, values = [], []
def append(n):
    kv = rng.standard_normal((2, 2, n, 32)).astype(np.float16)
    cache.append(0, 0, kv[0], kv[1])
    keys.append(kv[0]); values.append(kv[1])
append(150)
outputs, failure = [], None
for step in range(8):
    append(1)
    q = rng.standard_normal((1, 4, 32)).astype(np.float32)
    try:
        outputs.append(cache.decode(kernel, 0, [0], q)[0].ravel().tolist())
    except hgc_jit.Error as error:
        failure = (step, str(error))
        break
result = {{"outputs": outputs, "failure": failure,
          "stats": cache.stats()}}
def intact():
    k, v = cache.read(0, 0)
    return bool(np.array_equal(k, np.concatenate(keys, axis=1)) and
                np.array_equal(v, np.concatenate(values, axis=1)))
try:
    result["intact"] = intact()
    append(20)  # after the loss
    result["intact_after_append"] = intact()
    result["stats_after"] = cache.stats()
except hgc_jit.Error as error:
    result["read_error"] = str(error)
print(json.dumps(result))
"""


def decode_loop(tmp_path, env, mirror):
    script = DECODE_LOOP.format(python=str(ROOT / "jit" / "python"),
                                mirror=mirror)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True,
                          text=True, timeout=300, env={**os.environ, **env})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_jit_decode_loop_on_the_cuda_path_equals_emulated(tmp_path):
    cuda = decode_loop(tmp_path, STAND_IN, mirror=True)
    emulated = decode_loop(tmp_path, {"HGC_RT_GPU": "emulate"}, mirror=True)
    assert cuda["failure"] is None and len(cuda["outputs"]) == 8
    assert cuda["stats"]["device_is_cuda"]
    assert cuda["stats"]["mirrored_pages"] == cuda["stats"]["pages"][0] > 0
    assert cuda["outputs"] == emulated["outputs"]
    assert cuda["intact"] and cuda["intact_after_append"]


@pytest.mark.parametrize("mirror", [True, False], ids=["mirrored", "plain"])
def test_device_lost_mid_decode(tmp_path, mirror):
    """The device goes at the 5th kernel launch (the third step): that
    step's decode raises; with device_mirror every token still reads back
    bit-exactly and appends go on (onto the host copies); without it the
    device pages are gone and reading them is an error, never garbage."""
    lost = decode_loop(tmp_path, {**STAND_IN,
                                  "HGC_FAKE_CUDA_LOSE_DEVICE_AT_LAUNCH": "5"},
                       mirror=mirror)
    step, message = lost["failure"]
    assert step == 2 and len(lost["outputs"]) == 2
    assert "CUDA error 46" in message
    if mirror:
        assert lost["intact"] and lost["intact_after_append"]
        after = lost["stats_after"]
        assert after["failed_over_pages"] > 0
        assert after["pages"][0] == after["mirrored_pages"] == 0
    else:
        assert "device-to-host" in lost["read_error"]
