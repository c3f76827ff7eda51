#!/usr/bin/env python3
"""Layer-ahead selection (ScoutAttention) through libhgc's JIT:
hgc_select_ahead / hgc_decode_selected.

timing: a two-layer decode loop over a runtime-owned cache. Per layer,
`decode` selects and attends in one call; `selected` is the step over
candidates chosen ahead; `select` is the selection alone. `sequential`
runs select then selected per layer; `pipelined` runs layer l+1's select on
a second thread while layer l's step runs (the next step's layer 0 while
the last layer runs), as an engine would while the GPU runs layer l. Each call runs one OpenMP thread, so on this CPU-only
machine the two threads stand for the two processors of a hybrid (the step
on one core, the host's selection on the other): pipelined ~ the sum of
max(selected, select) per layer, against the sum of both. Medians over
--repeat steps.

overlap: the bundled Llama-style model (examples/llama/build_model.py,
random weights) prefills --tokens random tokens with onnxruntime; for each
layer l+1, its last token's real query, and a query predicted from layer
l's residual input through layer l+1's RMSNorm, Wq and RoPE (ScoutAttention's
predictor; checked against the real query when fed layer l+1's own input).
Both select through the JIT over the model's KV; reports the overlap of
the two candidate sets, the exact softmax mass each attends (float64), and
the output's relative L2 error against exact attention.

Prints JSON.
"""
import argparse
import json
import pathlib
import statistics
import sys
import threading
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "jit" / "python"))
sys.path.insert(0, str(ROOT / "examples" / "llama"))
import hgc_jit  # noqa: E402


def median_ms(samples):
    return round(1e3 * statistics.median(samples), 3)


def timing(args):
    ctx = hgc_jit.Context(target="host", threads=1, cache_dir="")
    config = hgc_jit.AttentionConfig(
        q_heads=32, kv_heads=8, head_dim=128, kv_dtype="f16", policy="quest",
        sink=16, window=1024, budget=str(args.budget), block=16)
    layers, n = 2, args.context
    cache = ctx.create_cache(config, layers=layers, page_tokens=16)
    rng = np.random.default_rng(0)
    cache.add_sequence(0)
    for layer in range(layers):
        for start in range(0, n, 4096):
            chunk = min(4096, n - start)
            kv = rng.standard_normal((2, 8, chunk, 128)).astype(np.float16)
            cache.append(0, layer, kv[0], kv[1])
    kernel = ctx.compile(config)
    q = rng.standard_normal((layers, 1, 32, 128)).astype(np.float32)
    p = rng.standard_normal((layers, 1, 32, 128)).astype(np.float32)

    def timed(call):
        start = time.perf_counter()
        result = call()
        return result, time.perf_counter() - start

    samples = {name: [] for name in ("decode", "select", "selected",
                                     "sequential", "pipelined")}
    ahead = {0: cache.select_ahead(kernel, 0, [0], p[0])}
    for _ in range(args.repeat + 1):  # the first compiles the kernels
        for layer in range(layers):
            samples["decode"].append(
                timed(lambda: cache.decode(kernel, layer, [0], q[layer]))[1])
        start = time.perf_counter()
        for layer in range(layers):
            chosen, t = timed(
                lambda: cache.select_ahead(kernel, layer, [0], p[layer]))
            samples["select"].append(t)
            samples["selected"].append(timed(lambda: cache.decode_selected(
                kernel, chosen, q[layer]))[1])
        samples["sequential"].append(time.perf_counter() - start)
        # Each layer's candidates are chosen while the layer before it runs;
        # the next step's layer 0 while this step's last layer runs.
        start = time.perf_counter()
        for layer in range(layers):
            def select_next(next_layer=(layer + 1) % layers):
                ahead[next_layer] = cache.select_ahead(
                    kernel, next_layer, [0], p[next_layer])
            worker = threading.Thread(target=select_next)
            worker.start()
            cache.decode_selected(kernel, ahead[layer], q[layer])
            worker.join()
        samples["pipelined"].append(time.perf_counter() - start)
    for name in samples:  # drop the compiling round
        per_round = layers if name in ("decode", "select", "selected") else 1
        samples[name] = samples[name][per_round:]
    row = {name: median_ms(values) for name, values in samples.items()}
    row["per_layer"] = ["decode", "select", "selected"]
    row["per_step_of_2_layers"] = ["sequential", "pipelined"]
    row["sum_of_max_per_step"] = round(
        layers * max(row["select"], row["selected"]), 3)
    row.update(context=n, budget=args.budget, block=16, window=1024, sink=16,
               q_heads=32, kv_heads=8, head_dim=128, dtype="f16",
               threads_per_call=1)
    return row


def recall(args):
    """Steps over selections made ahead with queries that drift slowly, on
    a cache with periodic recall and on one without: the share of the
    selection's tokens already recalled (hits), and the step's time."""
    ctx = hgc_jit.Context(target="host", threads=1, cache_dir="")
    config = hgc_jit.AttentionConfig(
        q_heads=32, kv_heads=8, head_dim=128, kv_dtype="f16", policy="quest",
        sink=16, window=1024, budget=str(args.budget), block=16)
    n = args.context
    rng = np.random.default_rng(0)
    kv = rng.standard_normal((2, 8, n, 128)).astype(np.float16)
    caches = {}
    for name, options in (("recall", dict(recall_period=args.recall_period,
                                          recall_blocks=args.recall_blocks)),
                          ("none", {})):
        cache = ctx.create_cache(config, layers=1, page_tokens=16, **options)
        cache.add_sequence(0)
        for start in range(0, n, 4096):
            cache.append(0, 0, kv[0][:, start:start + 4096],
                         kv[1][:, start:start + 4096])
        caches[name] = cache
    kernel = ctx.compile(config)
    q = rng.standard_normal((1, 32, 128)).astype(np.float32)
    seconds = {"recall": [], "none": []}
    hits = selected = recalled = 0
    for step in range(args.recall_steps):
        q = q + args.drift * rng.standard_normal(q.shape).astype(np.float32)
        p = q + 0.3 * rng.standard_normal(q.shape).astype(np.float32)
        for name, cache in caches.items():
            chosen = cache.select_ahead(kernel, 0, [0], p)
            _, stats = cache.decode_selected(kernel, chosen, q)
            if step >= args.recall_period:  # once something is recalled
                seconds[name].append(stats.seconds)
                if name == "recall":
                    hits += stats.recall_hits
                    selected += stats.selected_tokens + stats.recall_hits
                    recalled += stats.recalled_tokens
    measured = args.recall_steps - args.recall_period
    return {"context": n, "budget": args.budget, "block": 16, "page": 16,
            "recall_period": args.recall_period,
            "recall_blocks": args.recall_blocks, "drift": args.drift,
            "steps": measured,
            "hit_rate": round(hits / selected, 4),
            "recalled_tokens_per_step": recalled // measured,
            "selected_tokens_per_step": selected // measured,
            "step_ms_with_recall": median_ms(seconds["recall"]),
            "step_ms_without": median_ms(seconds["none"]),
            "threads_per_call": 1}


def rms_norm(x):
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + 1e-5)


def rope(x, position, cos, sin, heads):
    """ONNX RotaryEmbedding (not interleaved) of x [hidden] at `position`."""
    x = x.reshape(heads, -1)
    half = x.shape[1] // 2
    c, s = cos[position], sin[position]
    x1, x2 = x[:, :half], x[:, half:]
    return np.concatenate([x1 * c - x2 * s, x2 * c + x1 * s], 1)


def overlap(args):
    import onnx
    import onnxruntime
    from onnx import TensorProto, helper, numpy_helper
    from build_model import build

    layers, heads, kv_heads, hidden = args.layers, 8, 2, 256
    head = hidden // heads
    model = build(layers=layers, hidden=hidden, heads=heads,
                  kv_heads=kv_heads, max_positions=args.tokens)
    weights = {t.name: numpy_helper.to_array(t)
               for t in model.graph.initializer}
    streams = ["x0"] + [f"l{i}_x_out" for i in range(layers - 1)]
    queries = [f"l{i}_q_rot" for i in range(layers)]
    for name in streams + queries:
        model.graph.output.append(
            helper.make_tensor_value_info(name, TensorProto.FLOAT, None))
    session = onnxruntime.InferenceSession(model.SerializeToString())
    rng = np.random.default_rng(5)
    batch, n = args.batch, args.tokens
    feeds = {"input_ids": rng.integers(0, 512, (batch, n)).astype(np.int64),
             "position_ids": np.tile(np.arange(n), (batch, 1))}
    for i in range(layers):
        for kind in ("key", "value"):
            feeds[f"past_{kind}_{i}"] = np.zeros((batch, kv_heads, 0, head),
                                                 np.float32)
    names = [o.name for o in model.graph.output]
    out = dict(zip(names, session.run(names, feeds)))

    def predicted_query(layer, stream):
        """Layer `layer`'s query of the last token from residual `stream`."""
        x = rms_norm(stream[:, -1].astype(np.float64))
        ln = weights[f"l{layer}_ln1"]
        qs = (x * ln) @ weights[f"l{layer}_wq"]
        return np.stack([rope(row, n - 1, weights["rope_cos"],
                              weights["rope_sin"], heads) for row in qs])

    ctx = hgc_jit.Context(target="host", cache_dir="")
    config = hgc_jit.AttentionConfig(
        q_heads=heads, kv_heads=kv_heads, head_dim=head, kv_dtype="f16",
        policy="quest", sink=16, window=256, budget=str(args.budget),
        block=16)
    cache = ctx.create_cache(config, layers=layers, page_tokens=16)
    keys, values = {}, {}
    for b in range(batch):
        cache.add_sequence(b)
        for i in range(layers):
            k = out[f"present_key_{i}"][b].astype(np.float16)
            v = out[f"present_value_{i}"][b].astype(np.float16)
            cache.append(b, i, k, v)
            keys[b, i], values[b, i] = k.astype(np.float64), \
                v.astype(np.float64)
    kernel = ctx.compile(config)
    seqs = list(range(batch))
    rows = []
    for layer in range(1, layers):
        real = out[queries[layer]][:, -1].reshape(batch, heads, head)
        own = predicted_query(layer, out[streams[layer]])
        assert np.abs(own - real).max() < 1e-3, "the predictor is not Wq"
        guess = predicted_query(layer, out[streams[layer - 1]])
        picked = {}
        for name, query in (("real", real), ("predicted", guess)):
            picked[name] = cache.select_ahead(
                kernel, layer, seqs, query.astype(np.float32))
        shared, total, mass, error = 0, 0, {"real": [], "predicted": []}, \
            {"real": [], "predicted": []}
        for name in ("real", "predicted"):
            got, _ = cache.decode_selected(kernel, picked[name],
                                           real.astype(np.float32))
            for b in range(batch):
                exact, weights_b = exact_attention(real[b], keys[b, layer],
                                                   values[b, layer])
                error[name].append(np.linalg.norm(got[b] - exact) /
                                   np.linalg.norm(exact))
                mass[name].append(attended_mass(
                    weights_b, picked[name].candidates[b], n, config))
        for b in range(batch):
            for h in range(kv_heads):
                r = set(picked["real"].candidates[b, h]) - {-1}
                g = set(picked["predicted"].candidates[b, h]) - {-1}
                shared += len(r & g)
                total += len(r)
        rows.append({
            "layer": layer, "overlap": round(shared / total, 4),
            "mass_real": round(float(np.mean(mass["real"])), 4),
            "mass_predicted": round(float(np.mean(mass["predicted"])), 4),
            "error_real": round(float(np.mean(error["real"])), 5),
            "error_predicted": round(float(np.mean(error["predicted"])), 5)})
    return {"model": f"examples/llama build_model(layers={layers}, hidden="
            f"{hidden}, heads={heads}, kv_heads={kv_heads}), random weights",
            "tokens": n, "batch": batch, "budget": args.budget, "block": 16,
            "sink": 16, "window": 256, "layers": rows}


def exact_attention(q, k, v):
    """q [H, D], k/v [Hkv, n, D] -> output [H, D] and weights [H, n]."""
    heads, group = q.shape[0], q.shape[0] // k.shape[0]
    out, weights = np.zeros(q.shape), np.zeros((heads, k.shape[1]))
    for h in range(heads):
        s = k[h // group] @ q[h] / np.sqrt(q.shape[1])
        w = np.exp(s - s.max())
        weights[h] = w / w.sum()
        out[h] = weights[h] @ v[h // group]
    return out, weights


def attended_mass(weights, candidates, n, config):
    """The exact softmax mass of the sinks, the window and the candidate
    blocks of the host tier, averaged over query heads."""
    sink, window, block = config.sink, config.window, config.block
    group = weights.shape[0] // candidates.shape[0]
    host = np.arange(sink, n - window)
    total = 0.0
    for h in range(weights.shape[0]):
        kept = [t for c in candidates[h // group] if c >= 0
                for t in host[c * block:(c + 1) * block]]
        hot = list(range(sink)) + list(range(n - window, n))
        total += weights[h, hot].sum() + weights[h, kept].sum()
    return total / weights.shape[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--context", type=int, default=32768)
    parser.add_argument("--budget", type=float, default=0.05)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--tokens", type=int, default=4096)
    parser.add_argument("--layers", type=int, default=6)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--recall-period", type=int, default=8)
    parser.add_argument("--recall-blocks", type=int, default=64)
    parser.add_argument("--recall-steps", type=int, default=72)
    parser.add_argument("--drift", type=float, default=0.1)
    parser.add_argument("--only", choices=["timing", "overlap", "recall"])
    args = parser.parse_args()
    result = {"machine": "AMD Zen 3, 2 cores, no GPU (this repository's CI "
              "machine); hgc_jit host target"}
    if args.only in (None, "timing"):
        result["timing"] = timing(args)
    if args.only in (None, "overlap"):
        result["overlap"] = overlap(args)
    if args.only in (None, "recall"):
        result["recall"] = recall(args)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
