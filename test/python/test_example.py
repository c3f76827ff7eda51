"""README command (1)'s main job runs and its exact placements are exact."""
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_run_decode_step(hgc_runner):
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "run_decode_step.py")],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    errors = [float(line.split()[-1]) for line in result.stdout.splitlines()[1:]]
    assert len(errors) == 3
    assert errors[0] < 1e-5 and errors[1] < 1e-5   # full, hgca keep-all
    assert errors[2] > 1e-3                         # a 25% budget is sparse


def test_llama_main_job(hgc):
    """README command (1): plan, then a decode loop in warm hgc sessions
    (hybrid and exact) beside onnxruntime; the past becomes dynamic."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "llama" / "run_decode.py"),
         "--past", "700", "--window", "128", "--steps", "4"],
        capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.count("decode step, batch 1, q_heads 8, kv_heads 2") == 2
    assert "host    exact_topk budget 0.05" in out
    # Steps 1 and 2 compile (the second with a dynamic past), 3 and 4 not.
    assert out.count("compiled at step 1 ") == 2
    assert out.count(", step 2 (") == 2 and "step 3 (" not in out
    assert out.count("median step") == 3
    assert "max |hgc full - onnxruntime|" in out
