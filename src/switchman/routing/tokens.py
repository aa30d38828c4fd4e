"""Offline token counting for routing decisions (context-window checks and cost estimates).

The counter uses the Llama BPE tokenizer that ships inside the ``wordllama`` package (no download at run
time; tiktoken would fetch its encodings on first use), word by word with a cache of words
(``routing/llama_words.py``: the same ids, several times faster on repeated vocabulary). It over-counts
GPT-4-class tokenizers by roughly 10–25 %, which errs on the safe side for context checks; accounting
uses the upstream's reported usage.

To bound decision latency, texts up to :data:`EXACT_CHARS` characters are counted exactly; longer texts
are estimated from three evenly spaced samples (characters per token of the samples × length), within a
few percent on prose and code. A character-based fallback (≈ 4 characters a token) is used when the
tokenizer file cannot be read.
"""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from switchman.routing.llama_words import WordTokenizer

__all__ = ["EXACT_CHARS", "CharCounter", "TokenCounter", "WordLlamaCounter", "get_token_counter"]

#: Texts up to this many characters are tokenised exactly.
EXACT_CHARS = 1500
_SAMPLE_CHARS = 400


class TokenCounter(Protocol):
    name: str

    def count(self, text: str) -> int: ...


class CharCounter:
    """≈ 4 characters a token (used when no tokenizer is available)."""

    name = "chars/4"

    def count(self, text: str) -> int:
        return (len(text) + 3) // 4


class WordLlamaCounter:
    """Counts with the Llama BPE tokenizer bundled in ``wordllama``.

    The tokenizer file is located at construction (without importing ``wordllama``, which pulls in numpy)
    and read on the first count, so a gateway whose prompts never come near a context window never
    loads it (~10 MB). If it cannot be read then, counts fall back to ≈ 4 characters a token.
    """

    name = "llama-bpe-32k"

    def __init__(self) -> None:
        spec = importlib.util.find_spec("wordllama")
        if spec is None or spec.origin is None:
            raise ImportError("wordllama is not installed")
        self._path = Path(spec.origin).parent / "tokenizers" / "l2_supercat_tokenizer_config.json"
        if not self._path.is_file():
            raise OSError(f"no tokenizer file at {self._path}")
        self._words: WordTokenizer | None = None
        self._fallback: CharCounter | None = None
        self._lock = threading.Lock()

    def _load(self) -> WordTokenizer | None:
        with self._lock:
            if self._words is None and self._fallback is None:
                try:
                    from switchman.routing.llama_words import WordTokenizer

                    self._words = WordTokenizer(self._path.read_text(encoding="utf-8"))
                except (ImportError, OSError, ValueError, RuntimeError):
                    self._fallback = CharCounter()
        return self._words

    def _exact(self, text: str) -> int:
        words = self._words if self._words is not None else self._load()
        if words is None:
            assert self._fallback is not None
            return self._fallback.count(text)
        return words.count(text)

    def count(self, text: str) -> int:
        n = len(text)
        if n <= EXACT_CHARS:
            return self._exact(text) if text else 0
        step = (n - _SAMPLE_CHARS) // 2
        samples = [text[i : i + _SAMPLE_CHARS] for i in (0, step, n - _SAMPLE_CHARS)]
        sample_tokens = sum(self._exact(s) for s in samples)
        return max(1, round(sample_tokens * n / (_SAMPLE_CHARS * len(samples))))


_CACHE: dict[str, TokenCounter] = {}
_LOCK = threading.Lock()


def get_token_counter(name: str = "wordllama") -> TokenCounter:
    """The process-wide counter (``wordllama`` or ``chars``); falls back to ``chars`` if unavailable."""
    counter = _CACHE.get(name)
    if counter is not None:
        return counter
    with _LOCK:
        counter = _CACHE.get(name)
        if counter is None:
            if name == "wordllama":
                try:
                    counter = WordLlamaCounter()
                except (ImportError, OSError, ValueError, RuntimeError):
                    counter = CharCounter()
            else:
                counter = CharCounter()
            _CACHE[name] = counter
    return counter
