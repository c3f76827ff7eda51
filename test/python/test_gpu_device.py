"""GPU-only: the nvptx target's kernels on a real GPU, against numpy.

Skipped where the runtime finds no CUDA device (it would emulate); run by
scripts/gpu-check.sh on a machine with one. HGC_RT_GPU=cuda makes every
launch go to the device (a missing device is then an error, not a silent
fallback). Tolerances as in test_gpu_target.py.
"""
import ctypes

import numpy as np
import pytest

import reference as ref
from conftest import BUILD
from test_gpu_target import run_step
from test_hybrid_end_to_end import TOLERANCE


def gpu_backend():
    runtime = ctypes.CDLL(str(BUILD / "lib" / "libhgc_runtime.so"))
    runtime.hgc_rt_gpu_backend.restype = ctypes.c_char_p
    return runtime.hgc_rt_gpu_backend().decode()


pytestmark = pytest.mark.skipif(
    gpu_backend() != "cuda", reason="no CUDA device: the GPU is emulated here")


@pytest.fixture(autouse=True)
def on_the_device(monkeypatch):
    monkeypatch.setenv("HGC_RT_GPU", "cuda")


@pytest.mark.parametrize("elt", ["f16", "bf16", "f32"])
@pytest.mark.parametrize("d", [64, 80, 96, 128, 160, 192, 256])
@pytest.mark.parametrize("heads", [(8, 8), (32, 8), (16, 2)],
                         ids=["mha", "gqa4", "gqa8"])
@pytest.mark.parametrize("past", [37, 1500])
def test_device_numerics(hgc_runner, tmp_path, elt, d, heads, past):
    y, q, keys, vals = run_step(hgc_runner, tmp_path, elt, 2, heads, past, d,
                                ["--policy=full"], seed=d + past)
    want, _ = ref.partial_attention(q, keys, vals, [keys.shape[2]] * 2)
    np.testing.assert_allclose(y, want, atol=TOLERANCE[elt], rtol=TOLERANCE[elt])


@pytest.mark.parametrize("policy", ["hgca", "quest"])
def test_hybrid_on_the_device(hgc_runner, tmp_path, policy):
    sink, window, budget = 4, 256, 0.1
    block = 16 if policy == "quest" else None
    args = [f"--policy={policy}", f"--sink={sink}", f"--window={window}",
            f"--budget={budget}"] + ([f"--block={block}"] if block else [])
    y, q, keys, vals = run_step(hgc_runner, tmp_path, "f32", 2, (32, 8), 4000,
                                128, args, seed=31)
    want = ref.hybrid_decode(q, keys, vals, [keys.shape[2]] * 2, sink, window,
                             budget, block=block)
    np.testing.assert_allclose(y, want, atol=2e-5, rtol=2e-5)
