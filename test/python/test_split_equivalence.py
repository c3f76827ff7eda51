"""Stage vs stage: the split hybrid program equals the unsplit attention.

One decode step of ONNX-semantics attention (causal, with past KV) runs twice
through hgc-runner: as hgc.attention lowered directly, and bound/placed/split
(`full`, or HGCA whose budget keeps every host token). Both must equal each
other and the float64 reference to <= 1e-5 relative L2 (fp32), across group
sizes 1/4/8, head dims 64/80/96/128, batch 2, softcap, and context lengths
from 1 to 32K+ including lengths no tile size divides.
"""
import numpy as np
import pytest
from onnx.reference.ops.op_attention import _compute_attention

import reference as ref

REL_L2 = 1e-5


def rel_l2(got, want):
    return np.linalg.norm(got - want) / np.linalg.norm(want)


def decode_program(b, hq, hkv, past, d, softcap):
    def t(*shape):
        return "tensor<" + "x".join(map(str, shape)) + "xf32>"
    q, kv, pkv = t(b, hq, 1, d), t(b, hkv, 1, d), t(b, hkv, past, d)
    attrs = "is_causal = true" + (f", softcap = {softcap} : f32" if softcap else "")
    return f"""
func.func @main(%q: {q}, %k: {kv}, %v: {kv}, %pk: {pkv}, %pv: {pkv}) -> {q} {{
  %y = hgc.attention %q, %k, %v past(%pk, %pv : {pkv}, {pkv}) {{{attrs}}}
      : {q}, {kv}, {kv} -> {q}
  return %y : {q}
}}"""


CASES = [
    # (q_heads, kv_heads, head_dim, context, softcap)
    (8, 8, 64, 1, 0.0),
    (8, 2, 80, 17, 0.0),
    (8, 1, 96, 333, 30.0),
    (16, 4, 128, 1000, 0.0),
    (8, 8, 128, 4099, 0.0),
    (32, 8, 128, 32771, 0.0),
]


@pytest.mark.parametrize("hq,hkv,d,context,softcap", CASES,
                         ids=[f"h{c[0]}x{c[1]}-d{c[2]}-n{c[3]}" +
                              ("-softcap" if c[4] else "") for c in CASES])
def test_split_equals_attention(hgc_runner, tmp_path, hq, hkv, d, context,
                                softcap):
    rng = np.random.default_rng(context)
    b, past = 2, context - 1
    arrays = [rng.standard_normal(s).astype(np.float32) for s in (
        (b, hq, 1, d), (b, hkv, 1, d), (b, hkv, 1, d), (b, hkv, past, d),
        (b, hkv, past, d))]
    program = decode_program(b, hq, hkv, past, d, softcap)
    (direct,) = ref.run_hgc(hgc_runner, tmp_path / "direct", program, arrays)
    (full,) = ref.run_hgc(hgc_runner, tmp_path / "full", program, arrays,
                          ["--split", "--policy=full"])
    (hgca,) = ref.run_hgc(hgc_runner, tmp_path / "hgca", program, arrays,
                          ["--split", "--policy=hgca", "--sink=4",
                           "--window=64", "--budget=1.0"])
    q, k, v, pk, pv = (x.astype(np.float64) for x in arrays)
    want = _compute_attention(q, k, v, past_key=pk, past_value=pv,
                              is_causal=True, softcap=softcap or None)[0]
    for name, got in (("direct", direct), ("full", full), ("hgca", hgca)):
        assert rel_l2(got, want) <= REL_L2, name
    assert rel_l2(full, direct) <= REL_L2 and rel_l2(hgca, direct) <= REL_L2
