"""The ONNX project's backend tests for Attention, through `hgc run`.

Every case of test/onnx-backend-node (ONNX v1.22.0's test_attention_* and
their _expanded twins, Apache-2.0) is imported, compiled and run; every
output is compared with the expected TensorProto: fp32 within 1e-4, fp16
within 1e-3 (absolute and relative).
"""
import pathlib
import subprocess

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from conftest import ROOT

CASES = sorted(p for p in (ROOT / "test" / "onnx-backend-node").iterdir()
               if (p / "model.onnx").exists())


def load_pb(path):
    return numpy_helper.to_array(onnx.load_tensor(str(path)))


def test_all_cases_are_present():
    # 64 cases and their _expanded twins: none may go missing silently.
    assert len(CASES) == 128
    assert sum(c.name.endswith("_expanded") for c in CASES) == 64


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_backend_case(case, hgc, tmp_path):
    model = onnx.load(str(case / "model.onnx"), load_external_data=False)
    initializers = {t.name for t in model.graph.initializer}
    inputs = [i.name for i in model.graph.input if i.name not in initializers]
    data = case / "test_data_set_0"
    args = []
    for index, name in enumerate(inputs):
        path = tmp_path / f"input_{index}.npy"
        np.save(path, load_pb(data / f"input_{index}.pb"))
        args += ["--input", f"{name}={path}"]
    out = tmp_path / "out"
    run = subprocess.run([hgc, "run", case / "model.onnx", *args,
                          "--output-dir", out], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    for index, output in enumerate(model.graph.output):
        want = load_pb(data / f"output_{index}.pb")
        got = np.load(out / f"{output.name}.npy")
        assert got.dtype == want.dtype and got.shape == want.shape, output.name
        tolerance = 1e-3 if want.dtype == np.float16 else 1e-4
        np.testing.assert_allclose(got.astype(np.float64),
                                   want.astype(np.float64), rtol=tolerance,
                                   atol=tolerance, err_msg=output.name)


# Graphs that return the scores after the bias, softcap or softmax
# (qk_matmul_output_mode 1-3) keep them: the raise leaves those to linalg.
RAISABLE = [c for c in CASES if c.name.endswith("_expanded") and not any(
    word in c.name for word in ("qk_matmul_bias", "qk_matmul_softcap",
                                "qk_matmul_softmax"))]


@pytest.mark.parametrize("case", RAISABLE, ids=[c.name for c in RAISABLE])
def test_expanded_attention_is_raised(case, hgc, tmp_path):
    """An exporter's decomposed attention becomes one hgc attention op, so
    placement applies to it (softcaps and fp16 casts included; returned
    scores are left to linalg)."""
    out = tmp_path / "model.mlir"
    run = subprocess.run([hgc, "compile", case / "model.onnx", "--emit", "mlir",
                          "-o", out], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    text = out.read_text()
    assert "linalg.softmax" not in text
    assert "hgc.attention" in text or "hgc.decode_attention" in text or \
        "hgc.partial_attention" in text
