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
