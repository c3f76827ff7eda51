"""The bad-input catalogue (bad_inputs.py) through `hgc`: flags and values,
ONNX models, StableHLO programs and .npy inputs. Each exits 1 with one line
`hgc: ...` containing the catalogued fragment, and no crash."""
import subprocess

import pytest

import bad_inputs

CRASH_MARKERS = ("Stack dump", "PLEASE submit a bug report", "Assertion",
                 "Segmentation fault")
CASES = [c for c in bad_inputs.CASES if c["entry"].startswith("hgc")]


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_bad_input(hgc, tmp_path, case):
    args = case["make"](tmp_path)
    result = subprocess.run([hgc, *map(str, args)], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 1, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert lines and lines[0].startswith("hgc: "), result.stderr
    assert case["expect"] in lines[0], (case["expect"], lines[0])
    assert not any(marker in result.stderr for marker in CRASH_MARKERS)
