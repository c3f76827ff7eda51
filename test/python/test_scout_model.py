"""--policy scout on the Llama-style example model through `hgc run`:
hgc-select-ahead selects each layer's host blocks (past the first) from a
query predicted from the previous layer's residual input, through the
layer's own input norm, Wq and RoPE (ScoutAttention), over the layer's past;
the step attends them with the real query. Checked against a float64 numpy
forward of the model that does exactly that (Quest block bounds, the budget
a fraction of the host tier's blocks), fp32 within 1e-4; the first layer
selects for itself. The predicted selection must matter: quest (each layer
from its real query) differs.
"""
import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

import reference as ref
from conftest import ROOT
from test_llama_model import run_hgc

sys.path.insert(0, str(ROOT / "examples" / "llama"))
import build_model  # noqa: E402

SINK, WINDOW, BLOCK, BUDGET = 16, 64, 16, 0.1
LAYERS, HEADS, KV_HEADS, HIDDEN = 3, 8, 2, 256
HEAD = HIDDEN // HEADS


def rms_norm(x):
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + 1e-5)


def rope(x, heads, cos, sin):
    """ONNX RotaryEmbedding, not interleaved: x [hidden] -> [heads, head]."""
    x = x.reshape(heads, -1)
    half = x.shape[1] // 2
    x1, x2 = x[:, :half], x[:, half:]
    return np.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], 1)


def quest_blocks(q, k, n):
    """Per KV head, the host tier's top blocks (of a cache of `n` tokens of
    `k` [kv_heads, >= n, head]) by Quest's bound under q [heads, head]."""
    host = np.arange(SINK, max(SINK, n - WINDOW))
    blocks = [host[i:i + BLOCK] for i in range(0, len(host), BLOCK)]
    lo = np.stack([[k[h, b].min(0) for b in blocks] for h in range(KV_HEADS)])
    hi = np.stack([[k[h, b].max(0) for b in blocks] for h in range(KV_HEADS)])
    scores = ref.block_scores(q[None], lo[None], hi[None])[0]
    count = int(np.ceil(BUDGET * len(blocks)))
    return [ref.top_set(scores[h], count) for h in range(KV_HEADS)]


def attend(q, k, v, n, chosen):
    """The real query over the sinks, the window and the chosen blocks of
    the host tier of `n` tokens."""
    hot = list(range(SINK)) + list(range(n - WINDOW, n))
    host = np.arange(SINK, n - WINDOW)
    group = HEADS // KV_HEADS
    out = np.zeros((HEADS, HEAD))
    for h in range(HEADS):
        tokens = hot + [t for i in chosen[h // group]
                        for t in host[i * BLOCK:(i + 1) * BLOCK]]
        s = k[h // group, tokens] @ q[h] / np.sqrt(HEAD)
        w = np.exp(s - s.max())
        out[h] = w @ v[h // group, tokens] / w.sum()
    return out


def forward(proto, feeds, ahead):
    """One decode step of batch 1 in float64: logits [1, 1, vocab]. Layers
    past the first select from the predicted query when `ahead`."""
    w = {t.name: numpy_helper.to_array(t).astype(np.float64)
         for t in proto.graph.initializer}
    position = int(feeds["position_ids"][0, 0])
    cos, sin = w["rope_cos"][position], w["rope_sin"][position]
    x = w["embed"][feeds["input_ids"][0, 0]]
    streams = []
    for layer in range(LAYERS):
        p = f"l{layer}_"
        streams.append(x)

        def query_from(stream, p=p):
            return rope(rms_norm(stream) * w[p + "ln1"] @ w[p + "wq"], HEADS,
                        cos, sin)
        h = rms_norm(x) * w[p + "ln1"]
        q = query_from(x)
        k_new = rope(h @ w[p + "wk"], KV_HEADS, cos, sin)
        v_new = (h @ w[p + "wv"]).reshape(KV_HEADS, HEAD)
        past_k = feeds[f"past_key_{layer}"][0].astype(np.float64)
        past_v = feeds[f"past_value_{layer}"][0].astype(np.float64)
        k = np.concatenate([past_k, k_new[:, None]], 1)
        v = np.concatenate([past_v, v_new[:, None]], 1)
        n = k.shape[1]
        if ahead and layer > 0:
            # Over the past (the step's host tokens: its own token is in the
            # window), from layer `layer - 1`'s residual input.
            chosen = quest_blocks(query_from(streams[layer - 1]), past_k, n)
        else:
            chosen = quest_blocks(q, k, n)
        o = attend(q, k, v, n, chosen).reshape(-1)
        x = x + o @ w[p + "wo"]
        h2 = rms_norm(x) * w[p + "ln2"]
        gate = h2 @ w[p + "wg"]
        act = gate / (1 + np.exp(-gate)) * (h2 @ w[p + "wu"])
        x = x + act @ w[p + "wd"]
    return (rms_norm(x) * w["ln_f"] @ w["lm_head"])[None, None]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = tmp_path_factory.mktemp("scout") / "llama.onnx"
    proto = build_model.build(layers=LAYERS, seed=3)
    onnx.save(proto, path)
    return path, proto


PLACEMENT = ["--sink", str(SINK), "--window", str(WINDOW), "--block",
             str(BLOCK), "--budget", str(BUDGET)]


@pytest.mark.parametrize("past", [700, 1000])
def test_scout_selects_from_the_predicted_query(hgc, model, tmp_path, past):
    path, proto = model
    feeds = build_model.decode_inputs(proto, past=past, seed=past)
    (tmp_path / "scout").mkdir()
    (tmp_path / "quest").mkdir()
    scout = run_hgc(hgc, path, feeds, tmp_path / "scout", "--policy", "scout",
                    *PLACEMENT)
    quest = run_hgc(hgc, path, feeds, tmp_path / "quest", "--policy", "quest",
                    *PLACEMENT)
    np.testing.assert_allclose(scout["logits"], forward(proto, feeds, True),
                               rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(quest["logits"], forward(proto, feeds, False),
                               rtol=1e-4, atol=1e-4)
    assert np.abs(scout["logits"] - quest["logits"]).max() > 1e-3
    # The pasts come back as they went in; layer 0's token is computed
    # before any selection differs.
    for name in scout:
        if name.startswith("present"):
            np.testing.assert_array_equal(scout[name][:, :, :past],
                                          feeds[name.replace("present",
                                                             "past")])
    np.testing.assert_array_equal(scout["present_key_0"],
                                  quest["present_key_0"])


def test_plan_and_remarks(hgc, model, tmp_path):
    """`hgc compile --policy scout` moves every selection but the first;
    where it cannot (a decode step over a cache it cannot split into past
    and current), the step keeps its own and a note says why."""
    path, _ = model
    shapes = ["--shape", "input_ids=1x1", "--shape", "position_ids=1x1"]
    for layer in range(LAYERS):
        for kind in ("key", "value"):
            shapes += ["--shape", f"past_{kind}_{layer}=1x2x512x32"]
    out = tmp_path / "scout.mlir"
    result = subprocess.run([hgc, "compile", path, "--emit=mlir", "-o", out,
                             "--policy", "scout", *PLACEMENT, *shapes],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "hgc-select-ahead" not in result.stderr
    text = out.read_text()
    # Layers 1 and 2 attend candidates chosen ahead; layer 0 selects.
    assert text.count("hgc.select block_topk") == LAYERS
    assert text.count("hgc.bind_kv %arg") == LAYERS - 1
