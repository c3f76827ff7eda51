"""Per-head placement overrides on a cache bound over tensors, through
hgc-runner --split: each head group attends as its own placement says
(float64 numpy reference per group, token-granular sinks and window)."""
import subprocess

import numpy as np

import reference as ref

PROGRAM = """
func.func @main(%q: tensor<2x8x32xf32>, %k: tensor<2x4x200x32xf32>,
                %v: tensor<2x4x200x32xf32>, %n: tensor<2xi32>)
    -> tensor<2x8x32xf32> {
  %c = hgc.bind_kv %k, %v lengths(%n : tensor<2xi32>)
      : tensor<2x4x200x32xf32>, tensor<2x4x200x32xf32> -> !hgc.kv_cache<4x32xf32>
  %o = hgc.decode_attention %q, %c {placement = #hgc.placement<sink = 4,
      window = 32, tiers = [device = dense, host = exact_topk(budget = 0.25)],
      heads = [[1] = <tiers = [host = dense]>,
               [2, 3] = <sink = 2, window = 16,
                         tiers = [device = dense, host = exact_topk(budget = 0.5)]>]>}
      : tensor<2x8x32xf32>, !hgc.kv_cache<4x32xf32> -> tensor<2x8x32xf32>
  return %o : tensor<2x8x32xf32>
}
"""


def test_head_groups_match_reference(hgc_runner, tmp_path):
    rng = np.random.default_rng(21)
    q = rng.standard_normal((2, 8, 32)).astype(np.float32)
    k = rng.standard_normal((2, 4, 200, 32)).astype(np.float32)
    v = rng.standard_normal((2, 4, 200, 32)).astype(np.float32)
    n = np.array([200, 121], np.int32)
    program = tmp_path / "groups.mlir"
    program.write_text(PROGRAM)
    args = []
    for i, array in enumerate((q, k, v, n)):
        np.save(tmp_path / f"arg{i}.npy", array)
        args += ["--input", f"arg{i}={tmp_path / f'arg{i}.npy'}"]
    done = subprocess.run([hgc_runner, program, "--split", "--policy=hgca",
                           *args, "--output-dir", tmp_path],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    out = np.load(tmp_path / "out0.npy")
    q64, k64, v64 = (x.astype(np.float64) for x in (q, k, v))
    groups = [((0, 1), 4, 32, 0.25), ((1, 2), 0, 0, 1.0), ((2, 4), 2, 16, 0.5)]
    for (first, last), sink, window, budget in groups:
        want = ref.hybrid_decode(q64[:, 2 * first:2 * last],
                                 k64[:, first:last], v64[:, first:last], n,
                                 sink, window, budget)
        np.testing.assert_allclose(out[:, 2 * first:2 * last], want,
                                   atol=2e-5, rtol=0)
