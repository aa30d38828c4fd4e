"""Exact Llama (SentencePiece-style BPE) token ids, computed word by word with a cache of words.

The tokenizer bundled in ``wordllama`` (used to count tokens and to embed) has no pre-tokenizer: its
normalizer turns spaces into ``▁`` (and prepends one), and BPE runs over the whole text as one sequence.
Through ``tokenizers`` that costs ≈ 0.2 µs a character (alignment tracking and one long merge queue),
the largest part of a routing decision on a long prompt.

No token of that vocabulary has ``▁`` after another character (checked when loading), so no BPE merge
can join a character with a following ``▁``: cutting the normalised text before every run of ``▁``
(``▁▁foo`` stays one piece) and tokenising the pieces separately gives exactly the same ids. Pieces
repeat across requests, so their ids are cached (bounded: the cache is emptied when full); a piece not
yet seen costs one call of the BPE model. Texts containing a special token (``<s>``, ...) and
tokenizers of another shape are tokenised by ``tokenizers`` as a whole, unchanged.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["MAX_CACHED_WORDS", "WordTokenizer"]

#: Cached pieces at most (≈ 150 bytes each); the cache starts over when it is full.
MAX_CACHED_WORDS = 1 << 15
#: Longer pieces (base64, long identifiers) are tokenised every time and not cached.
MAX_WORD_CHARS = 40

_SPACE = "\u2581"  # ▁
_PIECE = re.compile(f"{_SPACE}+[^{_SPACE}]*|[^{_SPACE}]+")
_CROSSES = re.compile(f"[^{_SPACE}\x00]{_SPACE}")  # over the vocabulary joined by NUL
_LLAMA_NORMALIZER = {
    "type": "Sequence",
    "normalizers": [
        {"type": "Prepend", "prepend": _SPACE},
        {"type": "Replace", "pattern": {"String": " "}, "content": _SPACE},
    ],
}


def _splittable(spec: dict[str, Any]) -> bool:
    """The tokenizer is the Llama shape (see module doc) and no token crosses a piece boundary."""
    model = spec.get("model") or {}
    return (
        spec.get("normalizer") == _LLAMA_NORMALIZER
        and spec.get("pre_tokenizer") is None
        and model.get("type") == "BPE"
        and model.get("dropout") is None
        and isinstance(model.get("vocab"), dict)
        and _CROSSES.search("\x00".join(model["vocab"])) is None
    )


class WordTokenizer:
    """``ids(text)`` equal to ``tokenizer.encode(text, add_special_tokens=False).ids`` (see module doc)."""

    def __init__(self, spec_json: str) -> None:
        """``spec_json``: the ``tokenizer.json`` text (``Tokenizer.to_str()`` or the file)."""
        from tokenizers import Tokenizer

        spec = json.loads(spec_json)
        whole: Any = Tokenizer.from_str(spec_json)
        whole.no_padding()
        whole.no_truncation()
        self._whole = whole
        #: True when texts are split into cached pieces; False: every text goes through ``tokenizers``.
        self.split = _splittable(spec)
        self._specials = tuple(t["content"] for t in spec.get("added_tokens") or () if t.get("content"))
        self._model: Any = whole.model
        self._cache: dict[str, list[int]] = {}

    def ids(self, text: str) -> list[int]:
        if not text:
            return []
        if not self.split or any(s in text for s in self._specials):
            ids: list[int] = self._whole.encode(text, add_special_tokens=False).ids
            return ids
        cache, out = self._cache, []
        for piece in _PIECE.findall(_SPACE + text.replace(" ", _SPACE)):
            got = cache.get(piece)
            if got is None:
                got = [t.id for t in self._model.tokenize(piece)]
                if len(piece) <= MAX_WORD_CHARS:
                    if len(cache) >= MAX_CACHED_WORDS:
                        cache.clear()
                    cache[piece] = got
            out += got
        return out

    def count(self, text: str) -> int:
        return len(self.ids(text))
