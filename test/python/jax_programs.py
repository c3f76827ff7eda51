#!/usr/bin/env python3
"""Attention programs written with JAX, exported as StableHLO text.

Each program is a jitted function and its example inputs; `export` writes it
in both print forms JAX has: the pretty one (`jax.jit(f).lower(...)
.as_text()`) and the generic one (`compiler_ir('stablehlo').operation
.get_asm(print_generic_op_form=True)`). Run as a script, it writes every
program into a folder (pretty and generic .mlir, inputs as argN.npy, JAX's
result as expected.npy) for `hgc run`.
"""
import argparse
import pathlib

import numpy as np

import jax
import jax.numpy as jnp

jax.config.update("jax_platforms", "cpu")

DTYPES = {"f32": jnp.float32, "f16": jnp.float16, "bf16": jnp.bfloat16}


def dpa(dtype, b, t, s, n, k, h, mask=False, causal=False, scale=None):
    """jax.nn.dot_product_attention (BTNH, GQA when k < n), XLA's lowering."""
    rng = np.random.default_rng(b * 1000 + t * 100 + s + n + k + h)
    q = rng.standard_normal((b, t, n, h)).astype(np.float32)
    kv = [rng.standard_normal((b, s, k, h)).astype(np.float32) for _ in range(2)]
    args = [jnp.asarray(x, DTYPES[dtype]) for x in (q, *kv)]
    if mask:
        args.append(jnp.asarray(rng.random((b, n, t, s)) > 0.3))

    def attention(q, k, v, m=None):
        return jax.nn.dot_product_attention(q, k, v, mask=m, is_causal=causal,
                                            scale=scale, implementation="xla")
    return attention, args


def einsum_softmax(dtype, b, t, s, n, h, scale=None):
    """Attention written by hand: einsum, jax.nn.softmax, einsum (BTNH)."""
    rng = np.random.default_rng(7 * b + t + s + n + h)
    args = [jnp.asarray(rng.standard_normal(shape).astype(np.float32),
                        DTYPES[dtype])
            for shape in ((b, t, n, h), (b, s, n, h), (b, s, n, h))]
    factor = scale if scale is not None else 1.0 / np.sqrt(h)

    def attention(q, k, v):
        logits = jnp.einsum("btnh,bsnh->bnts", q, k) * factor
        probs = jax.nn.softmax(logits.astype(jnp.float32), axis=-1)
        return jnp.einsum("bnts,bsnh->btnh", probs.astype(q.dtype), v)
    return attention, args


def composite(dtype, b, t, s, n, k, h):
    """dot_product_attention wrapped in jax.lax.composite (a named op with
    its decomposition)."""
    inner, args = dpa(dtype, b, t, s, n, k, h)
    return jax.lax.composite(inner, name="example.attention"), args


def cache_decode(dtype, b=2, s=64, n=8, k=2, h=32, position=(40,)):
    """A decode step over a preallocated cache as JAX LLM code keeps it:
    the new token's K/V written at the current position with
    dynamic_update_slice (one position for the batch), or per sequence
    with `vmap` of it (a scatter), attention over the whole buffer under
    the mask `iota <= position` (broadcast over heads), GQA."""
    rng = np.random.default_rng(b + s + n + k + h + sum(position))
    shapes = [(b, 1, n, h), (b, 1, k, h), (b, 1, k, h), (b, s, k, h),
              (b, s, k, h)]
    args = [jnp.asarray(rng.standard_normal(x).astype(np.float32),
                        DTYPES[dtype]) for x in shapes]
    shared = len(position) == 1

    def write(cache, new, pos):
        if shared:
            return jax.lax.dynamic_update_slice(cache, new, (0, pos, 0, 0))
        one = lambda c, x, p: jax.lax.dynamic_update_slice(c, x, (p, 0, 0))
        return jax.vmap(one)(cache, new, pos)

    def step(q, new_k, new_v, cache_k, cache_v, pos):
        cache_k, cache_v = write(cache_k, new_k, pos), write(cache_v, new_v,
                                                             pos)
        valid = jnp.arange(s)[None, :] <= jnp.reshape(pos, (-1, 1))
        mask = jnp.broadcast_to(valid[:, None, None, :], (b, n, 1, s))
        return jax.nn.dot_product_attention(q, cache_k, cache_v, mask=mask,
                                            implementation="xla")
    pos = jnp.asarray(position[0] if shared else position, jnp.int32)
    return step, args + [pos]


def concat_decode(dtype, b=1, s=63, n=8, k=2, h=32):
    """A decode step whose KV cache grows by concatenation: the past and the
    new token's K/V joined with jnp.concatenate, then attended."""
    rng = np.random.default_rng(b + s + n + k + h)
    shapes = [(b, 1, n, h), (b, 1, k, h), (b, 1, k, h), (b, s, k, h),
              (b, s, k, h)]
    args = [jnp.asarray(rng.standard_normal(x).astype(np.float32),
                        DTYPES[dtype]) for x in shapes]

    def step(q, new_k, new_v, past_k, past_v):
        keys = jnp.concatenate([past_k, new_k], axis=1)
        values = jnp.concatenate([past_v, new_v], axis=1)
        return jax.nn.dot_product_attention(q, keys, values,
                                            implementation="xla")
    return step, args


PROGRAMS = {
    "mha_decode": lambda: dpa("f32", 2, 1, 40, 4, 4, 32),
    "gqa_decode": lambda: dpa("f32", 1, 1, 64, 8, 2, 64),
    "gqa_bf16": lambda: dpa("bf16", 1, 1, 48, 8, 2, 64),
    "mqa_scale": lambda: dpa("f32", 1, 1, 33, 4, 1, 64, scale=0.2),
    "causal_prefill": lambda: dpa("f32", 1, 6, 6, 4, 2, 16, causal=True),
    "masked": lambda: dpa("f32", 2, 3, 20, 4, 2, 16, mask=True),
    "einsum_softmax": lambda: einsum_softmax("f32", 1, 1, 50, 4, 32),
    "einsum_softmax_scale": lambda: einsum_softmax("f32", 2, 2, 17, 2, 16,
                                                    scale=0.3),
    "composite": lambda: composite("f32", 1, 1, 24, 4, 2, 32),
    "cache_decode": lambda: cache_decode("f32"),
    "cache_decode_per_sequence": lambda: cache_decode("f32",
                                                      position=(10, 40)),
    "concat_decode": lambda: concat_decode("f32"),
    "concat_decode_bf16": lambda: concat_decode("bf16"),
}


def rope_cache_step(dtype, s=16, d=8, position=5):
    """The data movement of a decoder step: RoPE (cos/sin of positions,
    halves rotated with slice/concatenate), the new key written into a
    preallocated cache at a traced position (dynamic_update_slice), a
    window read back (dynamic_slice) and padded."""
    rng = np.random.default_rng(s + d + position)
    x = jnp.asarray(rng.standard_normal((1, d)).astype(np.float32),
                    DTYPES[dtype])
    cache = jnp.asarray(rng.standard_normal((s, d)).astype(np.float32),
                        DTYPES[dtype])

    def step(x, cache, pos):
        angles = (pos.astype(jnp.float32) + 1.0) / (
            10000.0 ** (jnp.arange(d // 2, dtype=jnp.float32) * 2.0 / d))
        cos, sin = jnp.cos(angles), jnp.sin(angles)
        x1, x2 = x[:, :d // 2].astype(jnp.float32), x[:, d // 2:].astype(
            jnp.float32)
        rotated = jnp.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin],
                                  axis=-1).astype(x.dtype)
        cache = jax.lax.dynamic_update_slice(cache, rotated, (pos, 0))
        window = jax.lax.dynamic_slice(cache, (pos - 2, 0), (4, d))
        return jnp.pad(window, ((1, 0), (0, 2)))[::2]
    return step, [x, cache, jnp.asarray(position, jnp.int32)]


def elementwise_math(dtype, n=37):
    """The elementwise ops decoders use beyond attention, with edge values
    (zeros of both signs, halves for rounding, huge values, infinities)."""
    rng = np.random.default_rng(n)
    base = rng.standard_normal(n).astype(np.float32) * 3
    base[:8] = [0.0, -0.0, 0.5, -0.5, 2.5, -1.5, 1e30, -np.inf]
    x = jnp.asarray(base, DTYPES[dtype])

    def math(x):
        y = (jnp.floor(x) + jnp.ceil(x) + jnp.round(x) + jnp.sign(x)
             + jnp.clip(x, -2.0, 2.0) + jnp.remainder(x, 1.75)
             + jnp.fmod(x, -1.25))
        small = jnp.clip(x, -4.0, 4.0)
        y = y + jnp.expm1(small) + jnp.log1p(jnp.abs(small)) + jnp.tan(
            small * 0.3) + jnp.cbrt(small) + jnp.arctan2(small, 1.5)
        y = jnp.where(jnp.isfinite(y), y, 0.0)
        return y + jax.lax.round(x, jax.lax.RoundingMethod.AWAY_FROM_ZERO)
    return math, [x]


def integer_ops(n=24):
    """Integer elementwise ops with the spec's edge cases: shifts by the bit
    width or more, remainders of negative operands, clamps."""
    rng = np.random.default_rng(n)
    a = rng.integers(-1000, 1000, n).astype(np.int32)
    shift = rng.integers(0, 40, n).astype(np.int32)

    def ints(a, s):
        y = (jax.lax.shift_left(a, s) ^ jax.lax.shift_right_arithmetic(a, s)
             ^ jax.lax.shift_right_logical(a, s))
        return y + jax.lax.rem(a, 7) + jnp.sign(a) + jnp.clip(a, -300, 300)
    return ints, [jnp.asarray(a), jnp.asarray(shift)]


def embedding_lookup(vocab=50, d=16, tokens=7):
    """Token embeddings (jnp.take: a gather of rows), out-of-range ids
    clamped as XLA does, and take_along_axis (a gather with batching)."""
    rng = np.random.default_rng(vocab + d + tokens)
    table = jnp.asarray(rng.standard_normal((vocab, d)).astype(np.float32))
    ids = jnp.asarray(np.array([3, 0, 49, 7, 60, -2, 11][:tokens], np.int32))
    order = jnp.asarray(rng.integers(0, d, (tokens, d)).astype(np.int32))

    def embed(table, ids, order):
        rows = jnp.take(table, ids, axis=0, mode="clip")
        return jnp.take_along_axis(rows, order, axis=1, mode="clip") + rows
    return embed, [table, ids, order]


def scatter_add(n=12, d=4):
    """x.at[ids].add(u) with repeated and out-of-range ids: a scatter whose
    combiner adds, updates outside the operand dropped."""
    rng = np.random.default_rng(n + d)
    x = jnp.asarray(rng.standard_normal((n, d)).astype(np.float32))
    ids = jnp.asarray(np.array([1, 5, 1, 11, 20, 3], np.int32))
    u = jnp.asarray(rng.standard_normal((6, d)).astype(np.float32))

    def add(x, ids, u):
        return x.at[ids].add(u, mode="drop") * 2.0
    return add, [x, ids, u]


def loops_and_branches(n=6):
    """lax.scan with carried and stacked values, fori_loop, a while_loop
    whose trip count depends on the data, cond and switch, and an
    optimization_barrier: stablehlo while, case and their regions."""
    rng = np.random.default_rng(n)
    xs = jnp.asarray(rng.standard_normal((n, 3)).astype(np.float32))
    which = jnp.asarray(2, jnp.int32)

    def control(xs, which):
        def body(carry, x):
            carry = carry * 0.5 + x
            return carry, jnp.sin(carry)
        last, ys = jax.lax.scan(body, jnp.zeros(3, jnp.float32), xs)
        total = jax.lax.fori_loop(0, n, lambda i, t: t + xs[i] * i, last)
        grown = jax.lax.while_loop(lambda v: jnp.sum(jnp.abs(v)) < 50.0,
                                   lambda v: v * 1.5 + 0.25, total)
        picked = jax.lax.switch(which, [lambda v: v * 2.0, jnp.cos,
                                        lambda v: v - 1.0], grown)
        branch = jax.lax.cond(jnp.sum(picked) > 0, lambda v: v + 3.0,
                              lambda v: -v, picked)
        return jax.lax.optimization_barrier(ys * branch[None, :])
    return control, [xs, which]


def reduce_precision(n=32):
    """lax.reduce_precision to narrower formats, with ties, values past the
    narrow range, subnormals, infinities and NaN."""
    rng = np.random.default_rng(n)
    base = rng.standard_normal(n).astype(np.float32) * 50
    base[:10] = [1.0 + 2.0 ** -11, 1.0 + 3 * 2.0 ** -11, 70000.0, -1e-6,
                 1e-40, np.inf, -np.inf, np.nan, 65504.0, -0.0]
    x = jnp.asarray(base)

    def narrow(x):
        return jnp.stack([jax.lax.reduce_precision(x, e, m)
                          for e, m in ((5, 10), (8, 7), (4, 3), (2, 1),
                                       (8, 23), (11, 52), (5, 0))])
    return narrow, [x]


def greedy_tokens(b=3, v=40):
    """jnp.argmax and argmin over logits with ties and a NaN: a reduce of
    values and indices together (XLA's reducer takes the first index on
    ties and propagates NaN)."""
    rng = np.random.default_rng(b + v)
    logits = rng.standard_normal((b, v)).astype(np.float32)
    logits[0, [5, 9]] = 9.0          # tie: the first index wins
    logits[1, 7] = np.nan            # NaN wins argmax and argmin
    logits[2, [3, 30]] = -9.0

    def pick(x):
        return jnp.argmax(x, -1) * 100 + jnp.argmin(x, -1)
    return pick, [jnp.asarray(logits)]


def clamped_indices(position, n=10):
    """dynamic_slice and dynamic_update_slice at a traced start outside the
    operand (clamped into it as the spec says) and an empty slice joined
    into a concatenation."""
    rng = np.random.default_rng(n)
    x = jnp.asarray(rng.standard_normal((n, 3)).astype(np.float32))
    update = jnp.asarray(rng.standard_normal((2, 3)).astype(np.float32))

    def clamp(x, update, p):
        window = jax.lax.dynamic_slice(x, (p, 0), (4, 3))
        written = jax.lax.dynamic_update_slice(x, update, (p, p))
        empty = jax.lax.slice(x, (3, 0), (3, 3))
        return jnp.concatenate([window, empty, written], axis=0)
    return clamp, [x, update, jnp.asarray(position, jnp.int32)]


# Programs of the ops decoders need around attention (no attention in them).
OP_PROGRAMS = {
    "rope_cache_step": lambda: rope_cache_step("f32"),
    "rope_cache_step_bf16": lambda: rope_cache_step("bf16"),
    "elementwise_math": lambda: elementwise_math("f32"),
    "integer_ops": lambda: integer_ops(),
    "embedding_lookup": lambda: embedding_lookup(),
    "scatter_add": lambda: scatter_add(),
    "loops_and_branches": lambda: loops_and_branches(),
    "reduce_precision": lambda: reduce_precision(),
    "greedy_tokens": lambda: greedy_tokens(),
    "clamped_indices_negative": lambda: clamped_indices(-3),
    "clamped_indices_oversized": lambda: clamped_indices(100),
}


def export(name):
    """(pretty text, generic text, inputs as numpy, JAX's result)."""
    function, args = {**PROGRAMS, **OP_PROGRAMS}[name]()
    lowered = jax.jit(function).lower(*args)
    pretty = lowered.as_text()
    generic = lowered.compiler_ir("stablehlo").operation.get_asm(
        print_generic_op_form=True)
    result = jax.jit(function)(*args)
    return pretty, generic, [np.asarray(a) for a in args], np.asarray(result)


def to_npy(array):
    """bfloat16 travels as its bits (uint16), as hgc reads it."""
    if array.dtype == jnp.bfloat16:
        return array.view(np.uint16)
    return array


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=pathlib.Path)
    folder = parser.parse_args().folder
    for name in PROGRAMS:
        pretty, generic, inputs, result = export(name)
        out = folder / name
        out.mkdir(parents=True, exist_ok=True)
        (out / "pretty.mlir").write_text(pretty)
        (out / "generic.mlir").write_text(generic)
        for i, array in enumerate(inputs):
            np.save(out / f"arg{i}.npy", to_npy(array))
        np.save(out / "expected.npy", to_npy(result))
        print(out)


if __name__ == "__main__":
    main()
