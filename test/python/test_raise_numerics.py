"""Stage vs stage for hgc-raise-attention: the decomposed linalg program and
its raised form compute the same attention.

The decomposed programs are the positive cases of
test/Passes/raise-attention.mlir. Each runs through hgc-runner twice: as
written (linalg.softmax and contractions lowered as they are) and through the
hybrid pipeline, which raises it to hgc.attention first. Both must match
float64 numpy within the f32/f16 tolerances stated below.
"""
import pathlib

import numpy as np

import reference as ref

CASES = pathlib.Path(__file__).resolve().parents[1] / "Passes" / \
    "raise-attention.mlir"


def load_case(name):
    for chunk in CASES.read_text().split("// -----"):
        if f"func.func @{name}(" in chunk:
            return chunk.replace(f"@{name}(", "@main(")
    raise KeyError(name)


def numpy_attention(q, k, v, scale, mask=None):
    group = q.shape[1] // k.shape[1]
    k = np.repeat(k, group, axis=1)
    v = np.repeat(v, group, axis=1)
    s = np.einsum("bhsd,bhtd->bhst", q, k) * scale
    if mask is not None:
        s = s + mask
    p = np.exp(s - s.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    return np.einsum("bhst,bhtd->bhsd", p, v)


def run_both(runner, tmp_path, source, inputs):
    (as_written,) = ref.run_hgc(runner, tmp_path / "decomposed", source, inputs)
    (raised,) = ref.run_hgc(runner, tmp_path / "raised", source, inputs,
                            ["--split"])
    return as_written, raised


def test_scaled_masked(hgc_runner, tmp_path):
    rng = np.random.default_rng(1)
    q, k, v = (rng.standard_normal(s).astype(np.float32) for s in
               ((2, 4, 3, 16), (2, 4, 7, 16), (2, 4, 7, 16)))
    mask = rng.standard_normal((2, 4, 3, 7)).astype(np.float32)
    decomposed, raised = run_both(hgc_runner, tmp_path,
                                  load_case("scaled_masked"), [q, k, v, mask])
    want = numpy_attention(*(x.astype(np.float64) for x in (q, k, v)), 0.25,
                           mask.astype(np.float64))
    np.testing.assert_allclose(decomposed, want, atol=2e-5, rtol=1e-4)
    np.testing.assert_allclose(raised, want, atol=2e-5, rtol=1e-4)


def test_grouped_generic_f16(hgc_runner, tmp_path):
    rng = np.random.default_rng(2)
    q, k, v = (rng.standard_normal(s).astype(np.float16) for s in
               ((1, 8, 2, 32), (1, 2, 5, 32), (1, 2, 5, 32)))
    decomposed, raised = run_both(hgc_runner, tmp_path,
                                  load_case("grouped_generic"), [q, k, v])
    want = numpy_attention(*(x.astype(np.float64) for x in (q, k, v)), 0.125)
    # The decomposed program computes in f16 throughout; the raised one
    # accumulates in f32 and rounds once.
    np.testing.assert_allclose(raised, want, atol=2e-3, rtol=2e-3)
    np.testing.assert_allclose(decomposed, want, atol=2e-2, rtol=2e-2)
