"""The nvptx target: device-tier kernels as PTX, and the compiled program run
through the runtime's launch path.

Without a GPU the runtime emulates it (kernels' host twins on the SIMT
emulator), so every case here runs on a CPU-only machine and the numerics
are those of the kernel code that is compiled to PTX. Numerics are compared
with float64 numpy (reference.py): f32 atol 2e-5, f16 2e-3, bf16 1.5e-2 (the
output is rounded to the query type). PTX is assembled by ptxas (a CUDA
toolkit's, else the nvidia-cuda-nvcc wheel's that scripts/setup.sh installs)
for sm_80 and sm_90 with -v; a kernel that spills or keeps a stack frame
fails. Where no ptxas is found those cases are skipped.
"""
import os
import re
import shutil
import subprocess

import numpy as np
import pytest

import reference as ref
import test_hybrid_end_to_end as hybrid
from conftest import ROOT
from test_hybrid_end_to_end import TOLERANCE, attention_program



def find_ptxas():
    """ptxas on PATH, in a CUDA toolkit, or from NVIDIA's nvidia-cuda-nvcc
    wheel (scripts/requirements.txt installs it into .venv)."""
    candidates = [shutil.which("ptxas"), "/usr/local/cuda/bin/ptxas"]
    try:
        import nvidia.cuda_nvcc
        candidates += [os.path.join(path, "bin", "ptxas")
                       for path in nvidia.cuda_nvcc.__path__]
    except ImportError:
        pass
    return next((c for c in candidates if c and os.access(c, os.X_OK)), None)


PTXAS = find_ptxas()
NVPTX = ["--target=nvptx"]


def lower_to_ptx(hgc_opt, tmp_path, source, chip, policy="full"):
    tmp_path.mkdir(parents=True, exist_ok=True)
    program = tmp_path / "program.mlir"
    program.write_text(source)
    result = subprocess.run(
        [str(hgc_opt), str(program),
         f"-hgc-hybrid-pipeline=policy={policy} sink=4 window=64 budget=0.25",
         f"-hgc-lowering-pipeline=target=nvptx chip={chip}"],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    ptx = extract_ptx(result.stdout)
    assert ptx, "no PTX in the lowered module"
    return ptx


def extract_ptx(module_text):
    """The PTX of the gpu.binary objects in printed MLIR (escapes undone)."""
    ptx = "".join(re.findall(r'assembly = "((?:[^"\\]|\\.)*)"', module_text))
    return re.sub(r"\\([0-9A-Fa-f]{2})", lambda m: chr(int(m.group(1), 16)),
                  ptx).replace("\\\\", "\\")


def assemble(tmp_path, ptx, chip):
    """ptxas -v on `ptx`; returns its report per kernel."""
    if PTXAS is None:
        pytest.skip("no ptxas (CUDA toolkit) on this machine")
    source = tmp_path / f"kernels_{chip}.ptx"
    source.write_text(ptx)
    result = subprocess.run(
        [PTXAS, f"-arch={chip}", "-v", str(source), "-o",
         str(tmp_path / f"kernels_{chip}.cubin")],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stderr


@pytest.mark.parametrize("chip", ["sm_80", "sm_90"])
@pytest.mark.parametrize("elt", ["f16", "bf16", "f32"])
@pytest.mark.parametrize("d", [64, 80, 96, 128, 160, 192, 256])
@pytest.mark.parametrize("heads", [(8, 8), (32, 8)], ids=["mha", "gqa4"])
def test_ptx_assembles_without_spills(hgc_opt, tmp_path, chip, elt, d, heads):
    hq, hkv = heads
    ptx = lower_to_ptx(hgc_opt, tmp_path,
                       attention_program(1, hq, hkv, 300, d, elt), chip)
    assert f".target {chip}" in ptx
    # 16-byte loads of K/V from global and from the staged tile; the warp's
    # reductions are shuffles; nothing lives in local memory.
    assert re.search(r"ld\.global(\.nc)?\.v4\.(b32|u32|f32)", ptx), "no 16-byte loads"
    assert re.search(r"ld\.shared\.v4\.(b32|u32|f32)", ptx), "no 16-byte shared loads"
    assert "shfl.sync.bfly.b32" in ptx
    assert "bar.sync" in ptx or "barrier.sync" in ptx
    assert ".local" not in ptx
    report = assemble(tmp_path, ptx, chip)
    kernels = re.findall(r"Compiling entry function '(\w+)'", report)
    assert len(kernels) == 2, report
    assert "0 bytes spill stores, 0 bytes spill loads" in report
    assert report.count("0 bytes stack frame") == len(kernels), report


def run_step(runner, tmp_path, elt, b, heads, past, d, policy_args, seed,
             target=NVPTX):
    return hybrid.run_step(runner, tmp_path, elt, heads, past,
                           policy_args + target, seed, b=b, d=d)


@pytest.mark.parametrize("elt", ["f32", "f16", "bf16"])
@pytest.mark.parametrize("shape", [
    (2, (8, 2), 99, 64),    # GQA group of 4: four warps share a tile
    (1, (4, 4), 40, 128),   # MHA: one warp, lanes over 16-byte slices
    (1, (16, 2), 30, 80),   # head dim 80: 5 slices per lane, 2 heads a warp
    (1, (2, 1), 20, 256),   # a row of 256 over the whole warp
], ids=["gqa-d64", "mha-d128", "g8-d80", "d256"])
def test_full_on_device_is_exact(hgc_runner, tmp_path, elt, shape):
    b, heads, past, d = shape
    y, q, keys, vals = run_step(hgc_runner, tmp_path, elt, b, heads, past, d,
                                ["--policy=full"], seed=11)
    want, _ = ref.partial_attention(q, keys, vals, [keys.shape[2]] * b)
    np.testing.assert_allclose(y, want, atol=TOLERANCE[elt], rtol=TOLERANCE[elt])


def test_device_splits_are_merged(hgc_runner, tmp_path):
    """1100 tokens over 2 KV heads: five KV splits of 256 (blocks of their
    own; 264 blocks would want more, but no split is shorter than 256), the
    last one short, merged on the device by log-sum-exp."""
    y, q, keys, vals = run_step(hgc_runner, tmp_path, "f16", 1, (4, 2), 1099,
                                64, ["--policy=full"], seed=12)
    want, _ = ref.partial_attention(q, keys, vals, [keys.shape[2]])
    np.testing.assert_allclose(y, want, atol=2e-3, rtol=2e-3)


@pytest.mark.parametrize("policy", ["hgca", "quest"])
def test_hybrid_program_matches_reference(hgc_runner, tmp_path, policy):
    """The hybrid program: the device kernels over sinks + window, the host
    tier's selection and sparse partial, merged on the host."""
    sink, window, budget = 3, 40, 0.25
    block = 8 if policy == "quest" else None
    args = [f"--policy={policy}", f"--sink={sink}", f"--window={window}",
            f"--budget={budget}"] + ([f"--block={block}"] if block else [])
    y, q, keys, vals = run_step(hgc_runner, tmp_path, "f32", 2, (8, 2), 150,
                                64, args, seed=13)
    lengths = [keys.shape[2]] * keys.shape[0]
    want = ref.hybrid_decode(q, keys, vals, lengths, sink, window, budget,
                             block=block)
    np.testing.assert_allclose(y, want, atol=2e-5, rtol=2e-5)
    host, _, _, _ = run_step(hgc_runner, tmp_path / "host", "f32", 2, (8, 2),
                             150, 64, args, seed=13, target=[])
    np.testing.assert_allclose(y, host, atol=1e-6, rtol=1e-6)


def test_per_sequence_lengths_and_empty_rows(hgc_runner, tmp_path):
    """Device lengths per sequence (opset-24 nonpad): one sequence of 37
    valid tokens, one with none (output 0, never NaN)."""
    rng = np.random.default_rng(14)
    b, hq, hkv, t, d = 2, 8, 2, 90, 64
    q = rng.standard_normal((b, hq, 1, d)).astype(np.float32)
    k = rng.standard_normal((b, hkv, t, d)).astype(np.float32)
    v = rng.standard_normal((b, hkv, t, d)).astype(np.float32)
    lengths = np.array([37, 0], np.int64)
    program = attention_program(b, hq, hkv, t - 1, d, "f32", nonpad=True)
    (y,) = ref.run_hgc(hgc_runner, tmp_path, program, [q, k, v, lengths],
                       ["--split", "--policy=full"] + NVPTX)
    want, _ = ref.partial_attention(q[:, :, 0].astype(np.float64),
                                    k.astype(np.float64), v.astype(np.float64),
                                    lengths)
    assert np.isfinite(y).all()
    np.testing.assert_allclose(y[:, :, 0], want, atol=2e-5, rtol=2e-5)


def test_target_errors_are_one_line(hgc_runner, tmp_path):
    program = tmp_path / "p.mlir"
    program.write_text(attention_program(1, 2, 2, 3, 16, "f32"))
    for flags, fragment in ((["--target=cuda"], "unknown target 'cuda'"),
                            (["--target=nvptx", "--chip=sm_70"],
                             "unknown chip 'sm_70'")):
        result = subprocess.run(
            [str(hgc_runner), str(program), "--output-dir", str(tmp_path),
             "--split"] + flags, capture_output=True, text=True, timeout=60)
        assert result.returncode != 0
        assert fragment in result.stderr, result.stderr


def decode_model(tmp_path, past=300, heads=(8, 2), d=64):
    from test_hgc_driver import attention_model
    hq, hkv = heads
    return attention_model(tmp_path / "decode.onnx", q=(1, hq, 1, d),
                           k=(1, hkv, past, d))


def test_compile_emits_ptx_and_objects(hgc, tmp_path):
    from test_hgc_driver import expect_error, run
    model = decode_model(tmp_path)
    for chip in ("sm_80", "sm_90"):
        ptx = tmp_path / f"model_{chip}.ptx"
        result = run(hgc, "compile", model, "--target", "nvptx", "--chip",
                     chip, "--emit", "ptx", "-o", ptx)
        assert result.returncode == 0, result.stderr
        text = ptx.read_text()
        assert f".target {chip}" in text and ".entry hgc_device_partial_0(" in text
        report = assemble(tmp_path, text, chip)
        assert "0 bytes spill stores" in report
    # The object carries the PTX and the host code that launches it.
    obj = tmp_path / "model.o"
    result = run(hgc, "compile", model, "--target", "nvptx", "--emit", "obj",
                 "-o", obj)
    assert result.returncode == 0, result.stderr
    data = obj.read_bytes()
    assert data[:4] == b"\x7fELF" and b".target sm_80" in data
    assert b"mgpuLaunchKernel" in data and b"__hgc_emu_hgc_device_partial_0" in data
    expect_error(run(hgc, "compile", model, "--emit", "ptx", "-o",
                     tmp_path / "x"), "--emit ptx needs --target nvptx")
    expect_error(run(hgc, "compile", model, "--target", "nvptx", "--chip",
                     "sm_70", "--emit", "ptx", "-o", tmp_path / "x"),
                 "unknown chip 'sm_70'")
    expect_error(run(hgc, "plan", model, "--target", "gpu"), "--target gpu")


def test_run_model_on_the_nvptx_target(hgc, tmp_path):
    """hgc run --target nvptx: the same outputs as the host target (the
    device tier's kernels emulated here), and as numpy."""
    from test_hgc_driver import inputs, run
    model = decode_model(tmp_path)
    rng = np.random.default_rng(21)
    q = rng.standard_normal((1, 8, 1, 64)).astype(np.float32)
    k = rng.standard_normal((1, 2, 300, 64)).astype(np.float32)
    v = rng.standard_normal((1, 2, 300, 64)).astype(np.float32)
    args = inputs(tmp_path, Q=q, K=k, V=v)
    outputs = {}
    for target in ("host", "nvptx"):
        out = tmp_path / target
        result = run(hgc, "run", model, *args, "--output-dir", out, "--target",
                     target, "--policy", "hgca", "--window", "64", "--budget",
                     "1.0")
        assert result.returncode == 0, result.stderr
        outputs[target] = np.load(out / "Y.npy")
    np.testing.assert_allclose(outputs["nvptx"], outputs["host"], atol=1e-6)
    want, _ = ref.partial_attention(q[:, :, 0].astype(np.float64),
                                    k.astype(np.float64), v.astype(np.float64))
    np.testing.assert_allclose(outputs["nvptx"][:, :, 0], want, atol=2e-5)


def test_plan_shows_the_device_kernel(hgc, tmp_path):
    from test_hgc_driver import run
    model = decode_model(tmp_path, past=3000, heads=(32, 8), d=128)
    result = run(hgc, "plan", model, "--target", "nvptx", "--chip", "sm_90",
                 "--policy", "hgca", "--window", "1020")
    assert result.returncode == 0, result.stderr
    # 1024 device tokens: 8 KV heads would take 33 splits for 264 blocks,
    # but no split is shorter than 256 tokens; a group of 4 heads = 4 warps;
    # f32 rows of 128 are 32 lanes x one 16-byte load.
    assert ("kernel  sm_90: grid (4, 8, 1) x 128 threads (4 warps x 1 q heads), "
            "16-byte loads, 32 lanes per row, tiles of 32 tokens "
            "(32.0 KiB shared), splits of 256 tokens") in result.stdout, result.stdout
    long = run(hgc, "plan", decode_model(tmp_path, past=100000, heads=(32, 8),
                                         d=128),
               "--target", "nvptx", "--policy", "full")
    # 100000 tokens: 33 splits of 3040 (95 tiles of 32) for 264 blocks.
    assert "grid (33, 8, 1)" in long.stdout and "splits of 3040 tokens" in long.stdout, long.stdout
    plain = run(hgc, "plan", model, "--policy", "hgca")
    assert "kernel" not in plain.stdout


def test_scale_and_softcap_on_the_device(hgc_runner, hgc_opt, tmp_path):
    """An explicit scale and a softcap (Gemma-style) reach the kernel: the
    emulated kernel matches numpy, and the PTX (tanh included) assembles."""
    rng = np.random.default_rng(22)
    q = rng.standard_normal((1, 8, 64)).astype(np.float32)
    k = rng.standard_normal((1, 2, 100, 64)).astype(np.float32)
    v = rng.standard_normal((1, 2, 100, 64)).astype(np.float32)
    program = """
func.func @main(%q: tensor<1x8x64xf32>, %k: tensor<1x2x100x64xf32>,
                %v: tensor<1x2x100x64xf32>) -> tensor<1x8x64xf32> {
  %c = hgc.bind_kv %k, %v : tensor<1x2x100x64xf32>, tensor<1x2x100x64xf32>
      -> !hgc.kv_cache<2x64xf32>
  %o = hgc.decode_attention %q, %c {softcap = 2.0 : f32, scale = 0.3 : f32}
      : tensor<1x8x64xf32>, !hgc.kv_cache<2x64xf32> -> tensor<1x8x64xf32>
  return %o : tensor<1x8x64xf32>
}"""
    (y,) = ref.run_hgc(hgc_runner, tmp_path, program, [q, k, v],
                       ["--split", "--policy=full"] + NVPTX)
    want, _ = ref.partial_attention(q.astype(np.float64), k.astype(np.float64),
                                    v.astype(np.float64), scale=0.3, softcap=2.0)
    np.testing.assert_allclose(y, want, atol=2e-5, rtol=2e-5)
    plain, _ = ref.partial_attention(q.astype(np.float64), k.astype(np.float64),
                                     v.astype(np.float64), scale=0.3)
    assert np.abs(y - plain).max() > 1e-3, "the softcap must matter"
    report = assemble(tmp_path, lower_to_ptx(hgc_opt, tmp_path / "ptx", program,
                                             "sm_80"), "sm_80")
    assert "0 bytes spill stores" in report


def lit_nvptx_runs():
    """(file, hgc-opt arguments) of every lit RUN line that lowers to PTX."""
    runs = []
    for path in sorted((ROOT / "test").rglob("*.mlir")):
        for line in path.read_text().splitlines():
            match = re.match(r"// RUN: hgc-opt %s (.*?) \|", line)
            if match and "-hgc-lowering-pipeline=\"target=nvptx" in match.group(1):
                runs.append((path, match.group(1)))
    return runs


@pytest.mark.parametrize("path,arguments", lit_nvptx_runs(),
                         ids=lambda x: getattr(x, "name", None) or "")
def test_lit_ptx_assembles(hgc_opt, tmp_path, path, arguments):
    """The PTX the lit suite checks textually is also what ptxas accepts."""
    import shlex
    result = subprocess.run([str(hgc_opt), str(path), *shlex.split(arguments)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    ptx = extract_ptx(result.stdout)
    chip = re.search(r"\.target (sm_\d+)", ptx).group(1)
    report = assemble(tmp_path, ptx, chip)
    assert "0 bytes spill stores" in report and "0 bytes stack frame" in report


EXPORTS = ROOT / "test" / "models"


@pytest.mark.parametrize("arch,exporter", [
    ("llama", "torchscript"), ("llama", "dynamo"), ("gemma2", "dynamo"),
    ("llama_fp16", "torchscript"), ("gpt2", "torchscript")])
def test_dense_attention_runs_on_the_device(arch, exporter):
    """Attention that stays dense (prompts, a prompt after a past, a
    left-padded mask's fallback) runs as a device partial with a row per
    token on the nvptx target (kernels emulated here): every case equals
    onnxruntime (f32 1e-4; f16 2e-2, the graph's own rounding)."""
    from test_exporter_models import (assert_matches_onnxruntime, feeds_for,
                                      hgc_jit)
    path = EXPORTS / f"{arch}_{exporter}.onnx"
    session = hgc_jit.Session(path, target="cuda", policy="hgca", sink=2,
                              window=8, budget="1.0", cache_dir="")
    for batch, past, seq in [(2, 0, 5), (1, 7, 3)]:
        feeds = feeds_for(path, batch, past, seq=seq, seed=past)
        assert_matches_onnxruntime(session, path, feeds,
                                   f"batch {batch} past {past} seq {seq}")
    feeds = feeds_for(path, 2, 6, seed=1)
    feeds["attention_mask"][0, :2] = 0  # left padding: the dense fallback
    assert_matches_onnxruntime(session, path, feeds, "left padding")


@pytest.mark.parametrize("chip", ["sm_80", "sm_90"])
def test_prompt_model_emits_assembling_ptx(hgc, tmp_path, chip):
    """A model whose attention is never a decode step (a prompt of 5 tokens
    with its causal mask) compiles to device kernels for nvptx, and they
    assemble without spills."""
    from test_hgc_driver import run
    ptx = tmp_path / "prompt.ptx"
    result = run(hgc, "compile", EXPORTS / "llama_torchscript.onnx",
                 "--dim", "batch=2", "--dim", "seq=5", "--dim", "past=0",
                 "--dim", "total=5", "--target", "nvptx", "--chip", chip,
                 "--emit", "ptx", "-o", ptx)
    assert result.returncode == 0, result.stderr
    text = ptx.read_text()
    assert ".entry hgc_device_partial_0(" in text
    report = assemble(tmp_path, text, chip)
    assert "0 bytes spill stores" in report
    assert report.count("0 bytes stack frame") == len(
        re.findall(r"Compiling entry function", report)), report


def test_sparf_three_tiers_match_reference(hgc_runner, tmp_path):
    """sparf with a host capacity on the nvptx target: the device kernels
    over sinks + window, host and storage each selecting on the query's
    largest channels and folding in their mean values on the host, merged
    three ways; equal to SparF's float64 reference and to the host target."""
    sink, window, budget, channels, capacity = 3, 40, 0.25, 16, 50
    args = ["--policy=sparf", f"--sink={sink}", f"--window={window}",
            f"--budget={budget}", f"--channels={channels}",
            f"--host-capacity={capacity}"]
    y, q, keys, vals = run_step(hgc_runner, tmp_path, "f32", 2, (8, 2), 150,
                                64, args, seed=15)
    lengths = [keys.shape[2]] * keys.shape[0]
    want, _, _ = ref.sparf_decode(q, keys, vals, lengths, sink, window, budget,
                                  channels, capacity)
    np.testing.assert_allclose(y, want, atol=2e-5, rtol=2e-5)
    host, _, _, _ = run_step(hgc_runner, tmp_path / "host", "f32", 2, (8, 2),
                             150, 64, args, seed=15, target=[])
    np.testing.assert_allclose(y, host, atol=1e-6, rtol=1e-6)
