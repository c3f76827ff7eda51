#!/usr/bin/env python3
"""A small Llama-style decoder written in plain JAX, one decode step.

Token embedding (a gather), per layer RMSNorm, Q/K/V projections, RoPE,
the new K/V written into a preallocated cache at the current position
(dynamic_update_slice, or per sequence with vmap: a scatter), GQA attention
over the whole cache under the mask `iota <= position`, output projection,
SwiGLU MLP, residuals; final norm and tied logits. Layers run in a
`lax.scan` (one stablehlo.while whose body is every layer) or unrolled.
Narrow dtypes keep weights and caches in that dtype and take norms and
softmax in f32, as JAX LLM code does.

`export` gives the step's StableHLO text (both print forms), its inputs
(token, position, caches, then the weights in JAX's flattening order) and
a function that runs the step in JAX. Run as a script, it writes a program
folder for `hgc run` (see --help).
"""
import argparse
import dataclasses
import pathlib

import numpy as np

import jax
import jax.numpy as jnp

jax.config.update("jax_platforms", "cpu")

DTYPES = {"f32": jnp.float32, "bf16": jnp.bfloat16}


@dataclasses.dataclass(frozen=True)
class Config:
    layers: int = 3
    batch: int = 2
    cache: int = 48          # preallocated tokens per sequence
    dim: int = 64
    heads: int = 4
    kv_heads: int = 2
    head_dim: int = 16
    hidden: int = 96
    vocab: int = 80
    dtype: str = "f32"
    scanned: bool = True
    per_sequence: bool = False  # one position per sequence (vmap)


def weights(config, seed=0):
    """Random weights (std 0.2; norms near 1), stacked over layers."""
    rng = np.random.default_rng(seed)
    c = config

    def w(*shape, around=0.0):
        x = rng.standard_normal((c.layers, *shape)) * 0.2 + around
        return jnp.asarray(x.astype(np.float32), DTYPES[c.dtype])
    layers = {"attn_norm": w(c.dim, around=1.0),
              "wq": w(c.dim, c.heads * c.head_dim),
              "wk": w(c.dim, c.kv_heads * c.head_dim),
              "wv": w(c.dim, c.kv_heads * c.head_dim),
              "wo": w(c.heads * c.head_dim, c.dim),
              "mlp_norm": w(c.dim, around=1.0),
              "w_gate": w(c.dim, c.hidden), "w_up": w(c.dim, c.hidden),
              "w_down": w(c.hidden, c.dim)}
    table = rng.standard_normal((c.vocab, c.dim)).astype(np.float32)
    final = 1.0 + 0.2 * rng.standard_normal(c.dim).astype(np.float32)
    return {"embed": jnp.asarray(table, DTYPES[c.dtype]),
            "final_norm": jnp.asarray(final, DTYPES[c.dtype]),
            "layers": layers}


def rms_norm(x, scale):
    x32 = x.astype(jnp.float32)
    x32 = x32 * jax.lax.rsqrt(jnp.mean(x32 * x32, -1, keepdims=True) + 1e-5)
    return x32.astype(x.dtype) * scale


def rope(x, positions):
    """Rotates halves of each head by angles of `positions` ([batch])."""
    half = x.shape[-1] // 2
    inverse = 1.0 / (10000.0 ** (jnp.arange(half, dtype=jnp.float32) / half))
    angles = positions.astype(jnp.float32)[:, None, None, None] * inverse
    cos, sin = jnp.cos(angles), jnp.sin(angles)
    x1, x2 = x[..., :half].astype(jnp.float32), x[..., half:].astype(
        jnp.float32)
    rotated = jnp.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], -1)
    return rotated.astype(x.dtype)


def make_step(config):
    """step(tokens [b,1], position, cache_k, cache_v [L,b,S,K,H], params)
    -> (logits [b,1,vocab] f32, cache_k, cache_v)."""
    c = config

    def write(cache, new, position):
        if not c.per_sequence:
            return jax.lax.dynamic_update_slice(cache, new, (0, position, 0, 0))
        one = lambda row, x, p: jax.lax.dynamic_update_slice(row, x, (p, 0, 0))
        return jax.vmap(one)(cache, new, position)

    def layer(x, p, cache_k, cache_v, position):
        positions = jnp.broadcast_to(position, (c.batch,))
        h = rms_norm(x, p["attn_norm"])
        q = (h @ p["wq"]).reshape(c.batch, 1, c.heads, c.head_dim)
        k = (h @ p["wk"]).reshape(c.batch, 1, c.kv_heads, c.head_dim)
        v = (h @ p["wv"]).reshape(c.batch, 1, c.kv_heads, c.head_dim)
        q, k = rope(q, positions), rope(k, positions)
        cache_k, cache_v = write(cache_k, k, position), write(cache_v, v,
                                                              position)
        valid = jnp.arange(c.cache)[None, :] <= positions[:, None]
        mask = jnp.broadcast_to(valid[:, None, None, :],
                                (c.batch, c.heads, 1, c.cache))
        attended = jax.nn.dot_product_attention(q, cache_k, cache_v,
                                                mask=mask,
                                                implementation="xla")
        x = x + attended.reshape(c.batch, 1, -1) @ p["wo"]
        h = rms_norm(x, p["mlp_norm"])
        x = x + (jax.nn.silu(h @ p["w_gate"]) * (h @ p["w_up"])) @ p["w_down"]
        return x, cache_k, cache_v

    def step(tokens, position, cache_k, cache_v, params):
        x = params["embed"][tokens]
        if c.scanned:
            def body(x, per_layer):
                p, k, v = per_layer
                x, k, v = layer(x, p, k, v, position)
                return x, (k, v)
            x, (cache_k, cache_v) = jax.lax.scan(
                body, x, (params["layers"], cache_k, cache_v))
        else:
            keys, values = [], []
            for i in range(c.layers):
                p = jax.tree_util.tree_map(lambda a: a[i], params["layers"])
                x, k, v = layer(x, p, cache_k[i], cache_v[i], position)
                keys.append(k)
                values.append(v)
            cache_k, cache_v = jnp.stack(keys), jnp.stack(values)
        x = rms_norm(x, params["final_norm"])
        logits = x.astype(jnp.float32) @ params["embed"].T.astype(jnp.float32)
        return logits, cache_k, cache_v
    return step


def initial_state(config, filled, seed=1):
    """Caches holding `filled` random tokens per sequence (zeros after, as a
    preallocated cache is) and the position of the next token: an int, or
    one per sequence, `filled` less the sequence index."""
    c = config
    rng = np.random.default_rng(seed)
    shape = (c.layers, c.batch, c.cache, c.kv_heads, c.head_dim)
    caches = []
    for _ in range(2):
        x = np.zeros(shape, np.float32)
        x[:, :, :filled] = rng.standard_normal(x[:, :, :filled].shape)
        caches.append(jnp.asarray(x, DTYPES[c.dtype]))
    position = (jnp.asarray([filled - 3 * i for i in range(c.batch)],
                            jnp.int32) if c.per_sequence
                else jnp.asarray(filled, jnp.int32))
    return position, caches[0], caches[1]


def tokens_for(config, step):
    rng = np.random.default_rng(100 + step)
    return jnp.asarray(rng.integers(0, config.vocab, (config.batch, 1)),
                       jnp.int32)


def export(config, filled=20):
    """(pretty text, generic text, inputs of the first step, jitted step)."""
    step = jax.jit(make_step(config))
    position, cache_k, cache_v = initial_state(config, filled)
    args = (tokens_for(config, 0), position, cache_k, cache_v,
            weights(config))
    lowered = step.lower(*args)
    generic = lowered.compiler_ir("stablehlo").operation.get_asm(
        print_generic_op_form=True)
    return lowered.as_text(), generic, args, step


def flatten(args):
    return jax.tree_util.tree_leaves(args)


def to_npy(array):
    """bfloat16 travels as its bits (uint16), as hgc reads it."""
    array = np.asarray(array)
    return array.view(np.uint16) if array.dtype == jnp.bfloat16 else array


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=pathlib.Path)
    parser.add_argument("--dtype", choices=DTYPES, default="f32")
    parser.add_argument("--unrolled", action="store_true")
    parser.add_argument("--layers", type=int, default=3)
    arguments = parser.parse_args()
    config = Config(layers=arguments.layers, dtype=arguments.dtype,
                    scanned=not arguments.unrolled)
    pretty, _, args, step = export(config)
    folder = arguments.folder
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "step.mlir").write_text(pretty)
    for i, array in enumerate(flatten(args)):
        np.save(folder / f"arg{i}.npy", to_npy(array))
    for i, array in enumerate(step(*args)):
        np.save(folder / f"expected{i}.npy", to_npy(array))


if __name__ == "__main__":
    main()
