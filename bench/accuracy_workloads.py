"""The attention `hgc-bench accuracy` replays: one decode step's queries,
keys and values per sample, with a calibration query (the step before, or
another token's) for policies that calibrate.

- synthetic: per-KV-head regimes (bench/policy_accuracy.py's: sink-heavy,
  local, needles, diffuse, mixed, outlier channels, non-zero value mean; and
  values of low rank), at any context;
- minilm: every layer and head of all-MiniLM-L6-v2 on real text (512-token
  windows, the last token's query, the one before it to calibrate);
- llama: the bundled Llama-style model's decode step over a random past as
  the README's main job runs it (queries from the model's own forward).
"""
import dataclasses
import pathlib
import sys

import numpy as np

BENCH = pathlib.Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(ROOT / "test" / "python"))
sys.path.insert(0, str(ROOT / "examples" / "llama"))
import minilm  # noqa: E402
import policy_accuracy  # noqa: E402

REGIMES = policy_accuracy.REGIMES + ["low-rank-values"]


@dataclasses.dataclass
class Sample:
    """One layer's step: q [1, Hq, D]; k, v [1, Hkv, N, D] (float32);
    q_calibration [M, Hq, D]: the queries a calibration sees (earlier
    steps', never q); grouped as `workload` / `group` in the tables."""
    workload: str
    group: str
    q: np.ndarray
    k: np.ndarray
    v: np.ndarray
    q_calibration: np.ndarray
    sink: int
    window: int


CALIBRATION_QUERIES = 8


def nearby_queries(q, rng, count=CALIBRATION_QUERIES, similarity=0.9):
    """`count` queries of cosine ~`similarity` to q [1, Hq, D] per head:
    earlier steps'. [count, Hq, D]."""
    noise = rng.standard_normal((count,) + q.shape[1:])
    noise *= np.linalg.norm(q, axis=-1, keepdims=True) / np.linalg.norm(
        noise, axis=-1, keepdims=True)
    mixed = similarity * q + np.sqrt(1 - similarity ** 2) * noise
    return mixed.astype(np.float32)


def synthetic(context, regimes=REGIMES, seed=0):
    out = []
    for r, regime in enumerate(regimes):
        rng = np.random.default_rng(seed + 100 * r)
        base = "value-mean" if regime == "low-rank-values" else regime
        q, k, v = policy_accuracy.regime_kv(base, context, seed + r)
        if regime == "low-rank-values":
            # A mean, four shared directions and a little noise.
            mean = rng.standard_normal(v.shape[-1])
            basis = rng.standard_normal((4, v.shape[-1]))
            coefficients = rng.standard_normal(v.shape[:3] + (4,))
            v = (mean + coefficients @ basis + 0.1 * rng.standard_normal(
                v.shape)).astype(np.float32)
        out.append(Sample("synthetic", f"{regime} {context // 1024}K", q, k,
                          v, nearby_queries(q, rng), policy_accuracy.SINK,
                          policy_accuracy.WINDOW))
    return out


def minilm_samples(windows=4, layers=minilm.LAYERS, length=512, sink=4,
                   window=32, model=None):
    """One sample per (text window, layer): 12 heads, MHA; the last token's
    query, calibrated with the queries of the tokens before it."""
    model = model or minilm.MiniLM()
    out = []
    for w, ids in enumerate(minilm.windows(model, windows, length)):
        captured = []
        model.forward(ids, layers=layers, capture=captured)
        for layer, (q, k, v) in enumerate(captured):
            out.append(Sample(
                "minilm", f"layer {layer}", q[None, :, -1].astype(np.float32),
                k[None].astype(np.float32), v[None].astype(np.float32),
                q[:, -1 - CALIBRATION_QUERIES:-1].transpose(1, 0, 2).astype(
                    np.float32), sink, window))
    return out


def llama_samples(past=8192, layers=2, sink=4, window=64, seed=1):
    """The bundled model's step after `past` random tokens of KV: each
    layer's query from the model's forward (float64), its past plus the
    step's own key and value; calibrated with other tokens' queries at the
    same step."""
    import build_model
    from onnx import numpy_helper
    proto = build_model.build(layers=layers, seed=0)
    w = {t.name: numpy_helper.to_array(t).astype(np.float64)
         for t in proto.graph.initializer}
    feeds = build_model.decode_inputs(proto, past, seed=seed)
    heads, kv_heads = 8, 2
    hidden = w["embed"].shape[1]
    head = hidden // heads
    cos, sin = w["rope_cos"][past], w["rope_sin"][past]

    def norm(x):
        return x / np.sqrt((x * x).mean(-1, keepdims=True) + 1e-5)

    def rope(x, count):
        x = x.reshape(count, -1)
        half = x.shape[1] // 2
        x1, x2 = x[:, :half], x[:, half:]
        return np.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], 1)

    out = []
    token = int(feeds["input_ids"][0, 0])
    vocab = w["embed"].shape[0]
    x = w["embed"][token]
    others = [w["embed"][(token + 1 + i) % vocab]
              for i in range(CALIBRATION_QUERIES)]
    for layer in range(layers):
        p = f"l{layer}_"
        h = norm(x) * w[p + "ln1"]
        q = rope(h @ w[p + "wq"], heads)
        q_others = [rope(norm(o) * w[p + "ln1"] @ w[p + "wq"], heads)
                    for o in others]
        k = np.concatenate([feeds[f"past_key_{layer}"][0],
                            rope(h @ w[p + "wk"], kv_heads)[:, None]], 1)
        v = np.concatenate([feeds[f"past_value_{layer}"][0],
                            (h @ w[p + "wv"]).reshape(kv_heads, 1, head)], 1)
        out.append(Sample("llama", f"layer {layer} {past // 1024}K",
                          q[None].astype(np.float32),
                          k[None].astype(np.float32),
                          v[None].astype(np.float32),
                          np.stack(q_others).astype(np.float32), sink,
                          window))
        # Each token's next layer input: this layer's exact attention and
        # MLP over the same past.
        group = heads // kv_heads
        x = _block(w, p, x, q, k, v, group, norm)
        others = [_block(w, p, o, qo, k, v, group, norm)
                  for o, qo in zip(others, q_others)]
    return out


def _block(w, p, x, q, k, v, group, norm):
    o = np.stack([_attend(q[i], k[i // group], v[i // group])
                  for i in range(q.shape[0])]).reshape(-1)
    x = x + o @ w[p + "wo"]
    h = norm(x) * w[p + "ln2"]
    gate = h @ w[p + "wg"]
    return x + (gate / (1 + np.exp(-gate)) * (h @ w[p + "wu"])) @ w[p + "wd"]


def _attend(q, k, v):
    s = k @ q / np.sqrt(q.shape[-1])
    p = np.exp(s - s.max())
    return p @ v / p.sum()
