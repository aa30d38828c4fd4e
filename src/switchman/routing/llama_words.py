"""Exact Llama (SentencePiece-style BPE) token ids, computed piece by piece with a cache of pieces.

The tokenizer bundled in ``wordllama`` (used to count tokens and to embed) has no pre-tokenizer: its
normalizer turns spaces into ``▁`` (and prepends one), and BPE runs over the whole text as one sequence.
Through ``tokenizers`` that costs ≈ 0.2 µs a character (alignment tracking and one long merge queue),
the largest part of a routing decision on a long prompt.

BPE only ever joins two adjacent symbols listed in its merges, so where no merge joins a symbol ending
in character ``x`` to one starting with ``y``, nothing spans a boundary between ``x`` and ``y``: the
text can be cut there and the parts tokenised separately, with exactly the same ids. The Llama merges
never join anything to a following ``▁`` (nor a letter to punctuation, punctuation to a letter, or
anything to or from a digit: SentencePiece splits digits and scripts). Both are checked against the
merges when loading. A text is cut at its spaces (``str.split``: each word is a piece ``▁word``; a run
of spaces stays one piece ``▁▁word``), and a piece not seen before is cut further at the other
boundaries (``▁$140.`` → ``▁$``, ``1``, ``4``, ``0``, ``.``). Pieces repeat across requests, so their
ids are cached (bounded: a cache is emptied when full); an unseen part costs one call of the BPE model.
Texts containing a special token (``<s>``, ...) or a literal ``▁``, and tokenizers of another shape,
are tokenised by ``tokenizers`` as a whole, unchanged.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["MAX_CACHED_WORDS", "WordTokenizer"]

#: Cached pieces at most (≈ 150 bytes each); the cache starts over when it is full.
MAX_CACHED_WORDS = 1 << 15
#: Longer pieces (base64, long identifiers) are not cached.
MAX_WORD_CHARS = 40

_SPACE = "\u2581"  # ▁
_WHOLE_WORD = re.compile(rf"{_SPACE}[^\W\d_]+")  # vocabulary tokens that are a space and a word
_PUNCT = r"\x00-\x2f\x3a-\x40\x5b-\x60\x7b-\x7f"  # ASCII, not a letter or digit
#: Boundaries inside a piece where the Llama merges join nothing (verified in ``_splittable``).
_CUT = re.compile(rf"(?<=[0-9])|(?=[0-9])|(?<=[A-Za-z])(?=[{_PUNCT}])|(?<=[{_PUNCT}])(?=[A-Za-z])")
_LLAMA_NORMALIZER = {
    "type": "Sequence",
    "normalizers": [
        {"type": "Prepend", "prepend": _SPACE},
        {"type": "Replace", "pattern": {"String": " "}, "content": _SPACE},
    ],
}


def _joins_across_a_cut(left: str, right: str) -> bool:
    """A merge of a symbol ending in ``left`` with one starting with ``right`` would span a cut."""
    return (right == _SPACE and left != _SPACE) or _CUT.match(left + right, 1) is not None


def _splittable(spec: dict[str, Any]) -> bool:
    """The tokenizer is the Llama shape (see module doc) and no merge spans a cut."""
    model = spec.get("model") or {}
    if not (
        spec.get("normalizer") == _LLAMA_NORMALIZER
        and spec.get("pre_tokenizer") is None
        and model.get("type") == "BPE"
        and model.get("dropout") is None
        and (model.get("byte_fallback") or not model.get("fuse_unk"))  # unknowns are not fused across
        and isinstance(model.get("merges"), list)
    ):
        return False
    pairs: set[tuple[str, str]] = set()
    for merge in model["merges"]:
        left, right = merge.split(" ") if isinstance(merge, str) else merge
        pairs.add((left[-1], right[0]))
    return not any(_joins_across_a_cut(a, b) for a, b in pairs)


class WordTokenizer:
    """``ids(text)`` equal to ``tokenizer.encode(text, add_special_tokens=False).ids`` (see module doc)."""

    def __init__(self, spec_json: str, *, prewarm: bool = False) -> None:
        """``spec_json``: the ``tokenizer.json`` text (``Tokenizer.to_str()`` or the file). ``prewarm``:
        fill the cache with the vocabulary's whole words (``▁`` + letters, ~17k pieces, ≈ 0.1 s), so
        that the first requests do not pay for tokenising common words; kept when the cache starts over.
        """
        from tokenizers import Tokenizer

        spec = json.loads(spec_json)
        whole: Any = Tokenizer.from_str(spec_json)
        whole.no_padding()
        whole.no_truncation()
        self._whole = whole
        #: True when texts are cut into cached pieces; False: every text goes through ``tokenizers``.
        self.split = _splittable(spec)
        self._specials = (_SPACE, *(t["content"] for t in spec.get("added_tokens") or () if t.get("content")))
        self._model: Any = whole.model
        #: Ids of the piece ``▁`` + key (the piece without its first ``▁``: the word between spaces).
        self._seed: dict[str, list[int]] = {}
        if prewarm and self.split:
            vocab = spec["model"]["vocab"]
            self._seed = {t[1:]: self._bpe(t) for t in vocab if _WHOLE_WORD.fullmatch(t)}
        self._words = dict(self._seed)
        #: Ids of the parts, not starting with ``▁``, of pieces cut further (``_CUT``).
        self._parts: dict[str, list[int]] = {}

    def ids(self, text: str) -> list[int]:
        if not text:
            return []
        if not self.split or any(s in text for s in self._specials):  # incl. a literal ▁ in the text
            ids: list[int] = self._whole.encode(text, add_special_tokens=False).ids
            return ids
        # The normalised text is "▁" + "▁".join(text.split(" ")): each word is a piece "▁" + word, and
        # the empty words of a run of spaces add their "▁" to the next piece.
        words, out, run = self._words, [], ""
        for word in text.split(" "):
            if not word:
                run += _SPACE
                continue
            key = run + word if run else word
            run = ""
            got = words.get(key)
            out += got if got is not None else self._learn(key)
        if run:  # trailing spaces: a last piece of "▁" only
            key = run[1:]
            got = words.get(key)
            out += got if got is not None else self._learn(key)
        return out

    def count(self, text: str) -> int:
        return len(self.ids(text))

    def _learn(self, key: str) -> list[int]:
        piece = _SPACE + key
        if key.isalpha():  # letters only: no cut inside
            ids = self._bpe(piece)
        else:
            ids = []
            for part in _CUT.split(piece):
                if not part:
                    continue
                if part[0] == _SPACE:  # a piece of its own: shares the words' cache
                    got = self._words.get(part[1:])
                    if got is None:
                        got = self._bpe(part)
                        self._keep_word(part[1:], got)
                else:
                    got = self._parts.get(part)
                    if got is None:
                        got = self._bpe(part)
                        if len(part) <= MAX_WORD_CHARS:
                            if len(self._parts) >= MAX_CACHED_WORDS:
                                self._parts.clear()
                            self._parts[part] = got
                ids += got
        self._keep_word(key, ids)
        return ids

    def _keep_word(self, key: str, ids: list[int]) -> None:
        if len(key) <= MAX_WORD_CHARS:
            if len(self._words) >= len(self._seed) + MAX_CACHED_WORDS:  # start over from the seed
                self._words.clear()
                self._words.update(self._seed)
            self._words[key] = ids

    def _bpe(self, piece: str) -> list[int]:
        return [t.id for t in self._model.tokenize(piece)]
