"""The GPU bundle rehearsed here (issue 24, docs/gpu.md): built as on the
CPU machine, run as on the GPU machine, with the runtime's SIMT emulator
standing in for the GPU and the stand-in CUDA driver for the runtime's
device tier, so a lent GPU's first minute is never spent on a broken
script."""
import json
import os
import subprocess
import sys

import pytest

from conftest import BUILD, ROOT


def build(out, quick=True):
    done = subprocess.run(
        [sys.executable, ROOT / "bench" / "gpu_bundle.py", "build", "--out",
         out] + (["--quick"] if quick else []),
        capture_output=True, text=True, timeout=900,
        env=dict(os.environ, HGC_BUILD_DIR=str(BUILD)))
    assert done.returncode == 0, done.stderr
    return out


def elf_needs(path):
    done = subprocess.run(["/usr/lib/llvm-22/bin/llvm-readelf", "-d", path],
                          capture_output=True, text=True)
    return [line.split("[")[1].rstrip("]") for line in done.stdout.splitlines()
            if "(NEEDED)" in line]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return build(tmp_path_factory.mktemp("gpu") / "bundle")


def test_full_bundle_is_small_and_needs_no_compiler(tmp_path):
    out = build(tmp_path / "bundle", quick=False)
    files = [f for f in out.rglob("*") if f.is_file()]
    assert sum(f.stat().st_size for f in files) <= 32 << 20
    manifest = json.loads((out / "manifest.json").read_text())
    kinds = {c["kind"] for c in manifest["cases"]}
    assert kinds == {"dense", "hybrid", "bench"}
    assert {c["dtype"] for c in manifest["cases"]} == {"f16", "bf16", "f32"}
    assert {c["head_dim"] for c in manifest["cases"]} >= {64, 128, 256}
    elves = [f for f in files if f.read_bytes()[:4] == b"\x7fELF"]
    for f in elves:
        needs = elf_needs(f)
        assert not any("MLIR" in n or "LLVM" in n for n in needs), (f, needs)
        if f.suffix == ".so" and f.parent.name == "programs":
            assert "libhgc_runtime.so" in needs, (f, needs)


def test_bundle_runs_on_the_emulator(bundle, tmp_path):
    """`scripts/gpu-check.sh --bundle`: every case against float64 numpy,
    the tier check, one JSON, one log and a verdict line."""
    env = dict(os.environ, HGC_RT_GPU="emulate", OUT=str(tmp_path))
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env["PATH"]
    done = subprocess.run([ROOT / "scripts" / "gpu-check.sh", "--bundle",
                           bundle], capture_output=True, text=True,
                          timeout=900, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip().splitlines()[-1].startswith("gpu-check: PASS")
    result = json.loads((tmp_path / "gpu-check.json").read_text())
    assert result["failures"] == 0 and result["gpu_backends"] == ["emulated"]
    names = {r["name"] for r in result["results"]}
    assert any(n.startswith("hybrid") for n in names) and "kv-tiers" in names
    lines = (tmp_path / "gpu-check.log").read_text().splitlines()
    assert sum(line.startswith("ok ") for line in lines) == len(names)


def test_tier_check_on_the_cuda_stand_in(bundle):
    """The runtime's CUDA device tier (the stand-in driver here): appends,
    window slides to host, recalls, every token read back bit-exactly."""
    env = dict(os.environ,
               HGC_RT_CUDA_LIBRARY=str(BUILD / "lib" / "libhgc_fake_cuda.so"),
               LD_LIBRARY_PATH=str(bundle / "lib"))
    done = subprocess.run([bundle / "bin" / "hgc-kv-tier-check"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout)
    assert result["ok"] and result["device_is_cuda"] == 1
    assert result["moved_pages"] > 0 and result["recalls"] > 0


def test_a_wrong_result_fails_the_check(bundle, tmp_path):
    """A program that computes something else fails its case and the
    verdict: the sparse hgca program checked as if it were dense."""
    import shutil
    copy = tmp_path / "bundle"
    shutil.copytree(bundle, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    hybrid = [c for c in manifest["cases"] if c["kind"] == "hybrid"][0]
    manifest["cases"] = [dict(hybrid, kind="dense")]
    (copy / "manifest.json").write_text(json.dumps(manifest))
    done = subprocess.run(
        [sys.executable, copy / "gpu_bundle.py", "check", "--bundle", copy,
         "--out", tmp_path / "out"], capture_output=True, text=True,
        timeout=600, env=dict(os.environ, HGC_RT_GPU="emulate"))
    assert done.returncode == 1
    assert "gpu-check: FAIL" in done.stdout


def test_runner_errors_name_what_is_wrong(bundle, tmp_path):
    runner = bundle / "bin" / "hgc-aot-run"
    program = next((bundle / "programs").glob("dense-f32-*.so"))
    env = dict(os.environ, LD_LIBRARY_PATH=str(bundle / "lib"))
    short = tmp_path / "short.bin"
    short.write_bytes(b"\0" * 10)
    for args, message in [
            ([program, "--in", f"2x8x64:{short}", "--out", "3:4:o"],
             "not a whole number of elements"),
            ([program, "--in", f"2x8x64:{tmp_path / 'none'}"], "cannot read"),
            ([tmp_path / "none.so", "--out", "3:4:o"], "none.so"),
            ([program, "--entry", "nope", "--out", "3:4:o"],
             "no _mlir_ciface_nope"),
            ([program, "--bogus", "1"], "unknown option --bogus")]:
        done = subprocess.run([runner, *args], capture_output=True, text=True,
                              env=env, timeout=60)
        assert done.returncode == 1 and message in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
