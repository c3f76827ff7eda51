"""hgc.attention lowered to host loops vs ONNX's own reference evaluator.

The reference is onnx.reference's Attention implementation run in float64 on
the same float32 values hgc reads. Tolerance: atol 2e-5, rtol 1e-4 (float32
accumulation). Covers 3-D/4-D, MHA/GQA/MQA, head dims 64-128, causal with and
without past, softcap, boolean/additive/short masks, padding lengths, fully
masked rows, and present KV outputs.
"""
import numpy as np
import pytest
from onnx.reference.ops.op_attention import _compute_attention

import reference as ref

ATOL, RTOL = 2e-5, 1e-4


def ttype(shape, elt="f32"):
    return "tensor<" + "x".join(str(d) for d in shape) + f"x{elt}>"


def run_attention(runner, tmp_path, q, k, v, mask=None, past=None,
                  nonpad=None, attrs=None, present=False):
    """Builds an @main around one hgc.attention and runs it."""
    args, operands, types = [q, k, v], "%q, %k, %v", []
    sig = [f"%q: {ttype(q.shape)}", f"%k: {ttype(k.shape)}",
           f"%v: {ttype(v.shape)}"]
    extra = ""
    if mask is not None:
        elt = "i1" if mask.dtype == bool else "f32"
        sig.append(f"%m: {ttype(mask.shape, elt)}")
        args.append(mask)
        extra += f" mask(%m : {ttype(mask.shape, elt)})"
    if past is not None:
        pk, pv = past
        sig += [f"%pk: {ttype(pk.shape)}", f"%pv: {ttype(pv.shape)}"]
        args += [pk, pv]
        extra += f" past(%pk, %pv : {ttype(pk.shape)}, {ttype(pv.shape)})"
    if nonpad is not None:
        sig.append(f"%n: {ttype(nonpad.shape, 'i64')}")
        args.append(nonpad)
        extra += f" nonpad_kv_seqlen(%n : {ttype(nonpad.shape, 'i64')})"
    want = _compute_attention(
        *(x.astype(np.float64) for x in (q, k, v)),
        attn_mask=None if mask is None else (
            mask if mask.dtype == bool else mask.astype(np.float64)),
        past_key=None if past is None else past[0].astype(np.float64),
        past_value=None if past is None else past[1].astype(np.float64),
        nonpad_kv_seqlen=nonpad, _validate_attention25=False,
        **(attrs or {}))
    y_shape = want[0].shape
    attr_text = ", ".join(
        f"{key} = {'true' if val is True else val}"
        + ("" if isinstance(val, bool) else
           " : f32" if isinstance(val, float) else " : i64")
        for key, val in (attrs or {}).items())
    results = [ttype(y_shape)]
    present_types = ""
    if present:
        kv_shape = want[1].shape
        results += [ttype(kv_shape), ttype(want[2].shape)]
        present_types = f" present({ttype(kv_shape)}, {ttype(want[2].shape)})"
    names = ", ".join(f"%r{i}" for i in range(len(results)))
    program = f"""
func.func @main({", ".join(sig)}) -> ({", ".join(results)}) {{
  {names} = hgc.attention {operands}{extra} {{{attr_text}}}
      : {ttype(q.shape)}, {ttype(k.shape)}, {ttype(v.shape)} -> {results[0]}{present_types}
  return {names} : {", ".join(results)}
}}"""
    got = ref.run_hgc(runner, tmp_path, program, args)
    return got, want


def randn(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("heads", [(8, 8), (8, 2), (8, 1)],
                         ids=["group1", "group4", "group8"])
@pytest.mark.parametrize("head_dim", [64, 80, 96, 128])
def test_causal_with_past(hgc_runner, tmp_path, heads, head_dim):
    rng = np.random.default_rng(head_dim + heads[1])
    b, (hq, hkv), s, p = 2, heads, 3, 29
    q, k, v = randn(rng, b, hq, s, head_dim), randn(rng, b, hkv, s, head_dim), \
        randn(rng, b, hkv, s, head_dim)
    past = (randn(rng, b, hkv, p, head_dim), randn(rng, b, hkv, p, head_dim))
    got, want = run_attention(hgc_runner, tmp_path, q, k, v, past=past,
                              attrs={"is_causal": True}, present=True)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, atol=ATOL, rtol=RTOL)


def test_softcap_scale_3d(hgc_runner, tmp_path):
    rng = np.random.default_rng(3)
    q, k, v = randn(rng, 2, 5, 4 * 16), randn(rng, 2, 7, 2 * 16), \
        randn(rng, 2, 7, 2 * 16)
    got, want = run_attention(
        hgc_runner, tmp_path, 4 * q, k, v,
        attrs={"q_num_heads": 4, "kv_num_heads": 2, "scale": 0.3,
               "softcap": 2.0})
    np.testing.assert_allclose(got[0], want[0], atol=ATOL, rtol=RTOL)


@pytest.mark.parametrize("kind", ["bool", "float", "short-bool", "head-float"])
def test_masks(hgc_runner, tmp_path, kind):
    rng = np.random.default_rng(9)
    b, hq, hkv, s, t, d = 2, 4, 2, 3, 10, 16
    q, k, v = randn(rng, b, hq, s, d), randn(rng, b, hkv, t, d), \
        randn(rng, b, hkv, t, d)
    if kind == "bool":
        mask = rng.random((b, 1, s, t)) > 0.3
        mask[1, 0, 2, :] = False        # a fully masked row gives 0
    elif kind == "float":
        mask = randn(rng, s, t)
        mask[0, 3] = -np.inf
    elif kind == "short-bool":
        mask = rng.random((s, t - 4)) > 0.2   # ONNX pads with False
    else:
        mask = randn(rng, hq, s, t)
    got, want = run_attention(hgc_runner, tmp_path, q, k, v, mask=mask)
    np.testing.assert_allclose(got[0], want[0], atol=ATOL, rtol=RTOL)
    assert not np.isnan(got[0]).any()


def test_causal_mask_and_softcap(hgc_runner, tmp_path):
    rng = np.random.default_rng(12)
    q, k, v = randn(rng, 1, 2, 6, 32), randn(rng, 1, 2, 6, 32), \
        randn(rng, 1, 2, 6, 32)
    mask = randn(rng, 1, 1, 6, 6)
    got, want = run_attention(hgc_runner, tmp_path, 3 * q, k, v, mask=mask,
                              attrs={"is_causal": True, "softcap": 5.0})
    np.testing.assert_allclose(got[0], want[0], atol=ATOL, rtol=RTOL)


def test_nonpad_causal(hgc_runner, tmp_path):
    rng = np.random.default_rng(4)
    q, k, v = randn(rng, 3, 4, 2, 16), randn(rng, 3, 4, 12, 16), \
        randn(rng, 3, 4, 12, 16)
    nonpad = np.array([12, 5, 2], np.int64)
    got, want = run_attention(hgc_runner, tmp_path, q, k, v, nonpad=nonpad,
                              attrs={"is_causal": True})
    np.testing.assert_allclose(got[0], want[0], atol=ATOL, rtol=RTOL)
