#!/usr/bin/env python3
"""Exports tiny transformers decoders with torch.onnx, as real exporters write them.

A `LlamaForCausalLM` (and Gemma-2: attention logits soft-capped with tanh,
eager attention; Phi-3; Qwen2; GPT-2) built from a config with random
weights (no download), in float32 or float16,
wrapped so that past KV goes in and present KV comes out as flat tensors
(`past_key_values.N.key/value`, `present.N.key/value`: the names Optimum and
onnxruntime-genai use). Both of torch's exporters run where they work:

- TorchScript (`dynamo=False`, opset 17): attention decomposed into
  MatMul/Softmax with a causal mask built in the graph;
- dynamo (`dynamo=True`, opset 18 .. 23);
- onnxruntime-genai's model builder (`genai`: GroupQueryAttention with packed
  QKV and rotary inside, SkipSimplifiedLayerNormalization; weights as
  external data), the format onnxruntime-genai ships; run from the same
  transformers model saved to a folder with a word-level tokenizer.

Batch, sequence and past length are symbolic. The models are small (KBs)
and checked into the tree with this script: CI does not install torch.
Needs torch and transformers (a separate environment):

    export_torch_decoders.py OUT_DIR [--exporter torchscript|dynamo|genai|all]
        [--arch llama|gemma2|qwen2|phi3|gpt2] [--dtype float32|float16]

writes OUT_DIR/{arch}[_fp16]_{exporter}.onnx (genai: a folder of that name
holding model.onnx and model.onnx.data).
"""
import argparse
import pathlib
import shutil
import subprocess
import sys
import tempfile

import numpy as np

CONFIG = dict(vocab_size=128, hidden_size=64, intermediate_size=96,
              num_hidden_layers=2, num_attention_heads=4,
              num_key_value_heads=2, head_dim=16,
              max_position_embeddings=4096, rms_norm_eps=1e-5,
              rope_theta=10000.0, tie_word_embeddings=False)
ARCHS = {
    # sdpa: torch's exporters decompose scaled_dot_product_attention.
    "llama": ("LlamaConfig", "LlamaForCausalLM", "sdpa", {}),
    # Soft-capped logits need eager attention (MatMul, tanh, Softmax).
    "gemma2": ("Gemma2Config", "Gemma2ForCausalLM", "eager",
               dict(attn_logit_softcapping=50.0, final_logit_softcapping=30.0,
                    query_pre_attn_scalar=16, sliding_window=4096)),
    # Biases on Q, K, V.
    "qwen2": ("Qwen2Config", "Qwen2ForCausalLM", "sdpa", {}),
    # Fused QKV and gate-up projections.
    "phi3": ("Phi3Config", "Phi3ForCausalLM", "sdpa", dict(pad_token_id=0)),
    # LayerNormalization, Conv1D projections (Gemm), learned positions, no
    # GQA (4 KV heads).
    "gpt2": ("GPT2Config", "GPT2LMHeadModel", "sdpa",
             dict(num_key_value_heads=4, activation_function="gelu_new",
                  max_position_embeddings=512)),
}
DTYPES = {"float32": "", "float16": "_fp16"}


def build_module(torch, transformers, arch="llama", dtype="float32"):
    torch.manual_seed(0)
    config_class, model_class, attention, extra = ARCHS[arch]
    config = getattr(transformers, config_class)(**{**CONFIG, **extra})
    config._attn_implementation = attention
    model = getattr(transformers, model_class)(config).eval()
    model = model.to(getattr(torch, dtype))
    layers = config.num_hidden_layers

    class FlatCache(torch.nn.Module):
        """Past/present KV as flat tensors around the transformers model."""

        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, position_ids, *past):
            cache = transformers.DynamicCache(config=config)
            for i in range(layers):
                cache.update(past[2 * i], past[2 * i + 1], i)
            out = self.model(input_ids=input_ids,
                             attention_mask=attention_mask,
                             position_ids=position_ids,
                             past_key_values=cache, use_cache=True)
            present = []
            for i in range(layers):
                layer = out.past_key_values.layers[i]
                present += [layer.keys, layer.values]
            return (out.logits, *present)

    return FlatCache().eval(), config


def example_inputs(torch, config, batch=2, seq=2, past=5):
    heads = config.num_key_value_heads
    head_dim = config.head_dim
    ids = torch.randint(0, config.vocab_size, (batch, seq))
    mask = torch.ones(batch, past + seq, dtype=torch.int64)
    positions = torch.arange(past, past + seq).expand(batch, seq)
    kv = [torch.randn(batch, heads, past, head_dim, dtype=config.torch_dtype)
          for _ in range(2 * config.num_hidden_layers)]
    return (ids, mask, positions, *kv)


def names(layers):
    inputs = ["input_ids", "attention_mask", "position_ids"]
    outputs = ["logits"]
    for i in range(layers):
        inputs += [f"past_key_values.{i}.key", f"past_key_values.{i}.value"]
        outputs += [f"present.{i}.key", f"present.{i}.value"]
    return inputs, outputs


def export(exporter, out_dir, arch="llama", dtype="float32"):
    import torch
    import transformers
    module, config = build_module(torch, transformers, arch, dtype)
    config.torch_dtype = getattr(torch, dtype)
    inputs, outputs = names(config.num_hidden_layers)
    args = example_inputs(torch, config)
    path = out_dir / f"{arch}{DTYPES[dtype]}_{exporter}.onnx"
    if exporter == "torchscript":
        axes = {"input_ids": {0: "batch", 1: "seq"},
                "attention_mask": {0: "batch", 1: "total"},
                "position_ids": {0: "batch", 1: "seq"},
                "logits": {0: "batch", 1: "seq"}}
        for name in inputs[3:]:
            axes[name] = {0: "batch", 2: "past"}
        for name in outputs[1:]:
            axes[name] = {0: "batch", 2: "total"}
        torch.onnx.export(module, args, str(path), input_names=inputs,
                          output_names=outputs, dynamic_axes=axes,
                          opset_version=17, dynamo=False)
    else:
        batch = torch.export.Dim("batch", min=1, max=64)
        seq = torch.export.Dim("seq", min=1, max=2048)
        past = torch.export.Dim("past", min=1, max=2048)
        total = torch.export.Dim("total", min=2, max=4096)
        shapes = [{0: batch, 1: seq}, {0: batch, 1: total},
                  {0: batch, 1: seq}]
        shapes.append(({0: batch, 2: past},) * (2 * config.num_hidden_layers))
        program = torch.onnx.export(module, args, input_names=inputs,
                                    output_names=outputs,
                                    dynamic_shapes=shapes, opset_version=18,
                                    dynamo=True, optimize=True)
        program.save(str(path))
    check(path, module, torch, config, inputs)
    return path


def export_genai(out_dir, arch="llama", dtype="float32"):
    """onnxruntime-genai's builder over the same model saved to a folder
    (Llama; its Gemma-2 uses a sliding-window cache hgc does not take)."""
    import torch
    import transformers
    from tokenizers import Tokenizer, models, pre_tokenizers
    module, config = build_module(torch, transformers, arch, dtype)
    config.torch_dtype = getattr(torch, dtype)
    target = out_dir / f"{arch}{DTYPES[dtype]}_genai"
    with tempfile.TemporaryDirectory() as tmp:
        hf = pathlib.Path(tmp) / "hf"
        module.model.save_pretrained(hf)
        vocab = {f"t{i}": i for i in range(config.vocab_size)}
        words = Tokenizer(models.WordLevel(vocab=vocab, unk_token="t0"))
        words.pre_tokenizer = pre_tokenizers.Whitespace()
        transformers.PreTrainedTokenizerFast(
            tokenizer_object=words, unk_token="t0", bos_token="t1",
            eos_token="t2", pad_token="t0").save_pretrained(hf)
        built = pathlib.Path(tmp) / "out"
        subprocess.run([sys.executable, "-m",
                        "onnxruntime_genai.models.builder", "-i", str(hf),
                        "-o", str(built), "-p",
                        "fp32" if dtype == "float32" else "fp16", "-e", "cpu",
                        "-c", str(pathlib.Path(tmp) / "cache")],
                       check=True, capture_output=True)
        target.mkdir(parents=True, exist_ok=True)
        for name in ("model.onnx", "model.onnx.data"):
            shutil.copy(built / name, target / name)
    config.torch_dtype = getattr(torch, dtype)  # saving made it a string
    check_genai(target / "model.onnx", module, torch, config)
    return target


def check_genai(path, module, torch, config):
    """onnxruntime runs the builder's model and agrees with torch. (The
    builder takes any Linear as wide as the vocabulary for the LM head: the
    config keeps intermediate_size apart from vocab_size.)"""
    import onnxruntime
    session = onnxruntime.InferenceSession(str(path))
    args = example_inputs(torch, config, batch=3, seq=1, past=9)
    with torch.no_grad():
        expected = module(*args)
    feeds = {"input_ids": args[0].numpy(), "attention_mask": args[1].numpy()}
    for i in range(config.num_hidden_layers):
        feeds[f"past_key_values.{i}.key"] = args[3 + 2 * i].numpy()
        feeds[f"past_key_values.{i}.value"] = args[4 + 2 * i].numpy()
    logits = session.run(["logits"], feeds)[0]
    tolerance = 1e-4 if config.torch_dtype == torch.float32 else 2e-2
    np.testing.assert_allclose(logits, expected[0].numpy(), rtol=tolerance,
                               atol=tolerance)
    print(f"{path}: onnxruntime equals torch")


def check(path, module, torch, config, inputs):
    """onnxruntime runs the export and agrees with torch at new shapes."""
    import onnxruntime
    args = example_inputs(torch, config, batch=3, seq=1, past=9)
    with torch.no_grad():
        expected = module(*args)
    session = onnxruntime.InferenceSession(str(path))
    got = session.run(None, {n: a.numpy() for n, a in zip(inputs, args)})
    tolerance = 1e-4 if config.torch_dtype == torch.float32 else 2e-2
    for want, have in zip(expected, got):
        np.testing.assert_allclose(have, want.numpy(), rtol=tolerance,
                                   atol=tolerance)
    print(f"{path}: onnxruntime equals torch")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=pathlib.Path)
    parser.add_argument("--exporter", default="all",
                        choices=["torchscript", "dynamo", "genai", "all"])
    parser.add_argument("--arch", default="llama", choices=list(ARCHS))
    parser.add_argument("--dtype", default="float32", choices=list(DTYPES))
    args = parser.parse_args()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for exporter in ["torchscript", "dynamo"]:
        if args.exporter in (exporter, "all"):
            export(exporter, args.out_dir, args.arch, args.dtype)
    if args.exporter in ("genai", "all"):
        export_genai(args.out_dir, args.arch, args.dtype)


if __name__ == "__main__":
    main()
