"""Request analysis: the features of one request, computed once and shared by every routing step.

:func:`analyze` reads a :class:`RequestInfo` and returns an :class:`Analysis`: token counts (offline
tokenizer, see ``routing/tokens.py``), turns, what the request needs (vision, tools, JSON mode), the
output bound asked for and the caller's declared tier/latency/task. The features read from the prompt's
text — ``has_code``, ``language`` and the heuristic ``difficulty`` in [0, 1] — are computed when a step
first reads them (a rule on code or language, scoring's prior and output guess) and kept: a fixed route
reads none of them, and only what was computed shows in ``features()`` and explanations
(``Analysis.computed``). The pipeline adds the request's embedding (one per request) with
:meth:`Analysis.with_embedding` so semantic routes, the learned scorer and a later cache share it.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from switchman.routing.request import RequestInfo
from switchman.routing.rounding import round4
from switchman.routing.tokens import TokenCounter, get_token_counter
from switchman.values import value

if TYPE_CHECKING:  # numpy is imported only by routers that embed (see routing/policy.py)
    import numpy as np
    import numpy.typing as npt

__all__ = [
    "Analysis",
    "analyze",
    "detect_code",
    "difficulty",
    "embed_text",
    "estimate_tokens",
    "guess_language",
]

#: Tokens counted per image part (OpenAI's high-detail cost of one 512-px tile plus base).
IMAGE_TOKENS = 765
#: Per-message framing tokens (role, separators), as in OpenAI's counting recipe.
MESSAGE_OVERHEAD = 4
#: Characters of the last user message given to the embedder: the start and the end (where the ask
#: usually is), joined, when the message is longer.
EMBED_HEAD, EMBED_TAIL = 600, 400
#: Characters of the last user message read by the code, language and difficulty heuristics.
SAMPLE_CHARS = 1500

_IMAGE_PARTS = frozenset({"image_url", "image", "input_image"})


class _TextFeatures:
    """The text-derived features of one request, filled on first use (shared by copies of an Analysis:
    computing one is idempotent, so concurrent readers at worst compute it twice)."""

    __slots__ = ("difficulty", "has_code", "language", "prompt_tokens", "sample", "turns", "words")

    def __init__(self, sample: str, prompt_tokens: int, turns: int) -> None:
        self.sample = sample
        self.prompt_tokens = prompt_tokens
        self.turns = turns
        self.words: list[str] | None = None
        self.has_code: bool | None = None
        self.language: str | None = None
        self.difficulty: float | None = None

    def lower_words(self) -> list[str]:
        if self.words is None:
            self.words = _words_of(self.sample)
        return self.words


@value
class Analysis:
    """What routing knows about one request (plain values; the text features are read lazily: see
    module doc)."""

    prompt_tokens: int  # the last user message
    conversation_tokens: int  # every message, tools and images: what must fit the context window
    turns: int  # user messages
    messages: int
    images: int
    needs_vision: bool
    needs_tools: bool
    needs_json: bool
    max_tokens: int | None
    tier: str | None
    latency: str | None
    task: str | None
    #: The text the embedder sees (start and end of the last user message).
    text: str
    _text_features: _TextFeatures = dataclasses.field(repr=False, compare=False)
    embedding: npt.NDArray[np.float32] | None = None

    def with_embedding(self, embedding: npt.NDArray[np.float32]) -> Analysis:
        # positional (this runs for every embedded request; ``dataclasses.replace`` costs 4x as much)
        return Analysis(
            self.prompt_tokens,
            self.conversation_tokens,
            self.turns,
            self.messages,
            self.images,
            self.needs_vision,
            self.needs_tools,
            self.needs_json,
            self.max_tokens,
            self.tier,
            self.latency,
            self.task,
            self.text,
            self._text_features,
            embedding,
        )

    @property
    def has_code(self) -> bool:
        """Code in the last user message (:func:`detect_code` on its first :data:`SAMPLE_CHARS`)."""
        f = self._text_features
        if f.has_code is None:
            f.has_code = detect_code(f.sample)
        return f.has_code

    @property
    def language(self) -> str:
        """A two-letter guess of the last user message's language (:func:`guess_language`)."""
        f = self._text_features
        if f.language is None:
            f.language = guess_language(f.sample, f.lower_words())
        return f.language

    @property
    def difficulty(self) -> float:
        """The heuristic difficulty in [0, 1] (:func:`difficulty`)."""
        f = self._text_features
        if f.difficulty is None:
            # code counts only above 150 tokens: short prompts never run the code detector for it
            code = f.prompt_tokens > _CODE_MIN_TOKENS and self.has_code
            f.difficulty = difficulty(f.sample, f.prompt_tokens, f.turns, code, f.lower_words())
        return f.difficulty

    @property
    def computed(self) -> dict[str, str | float | bool]:
        """The text features computed so far (by the steps that needed them), by name."""
        f = self._text_features
        out: dict[str, str | float | bool] = {}
        if f.has_code is not None:
            out["has_code"] = f.has_code
        if f.language is not None:
            out["language"] = f.language
        if f.difficulty is not None:
            out["difficulty"] = f.difficulty
        return out

    @property
    def computed_language(self) -> str | None:
        """The language guess if a step computed it (``computed.get("language")``), else None."""
        return self._text_features.language

    def features(self, *, complete: bool = False) -> dict[str, float]:
        """Numeric features (for ``Decision.features``, explanations and the learned predictor): the
        request's shape always, ``has_code`` and ``difficulty`` when computed (all of them when
        ``complete``)."""
        out = {
            "prompt_tokens": float(self.prompt_tokens),
            "conversation_tokens": float(self.conversation_tokens),
            "turns": float(self.turns),
            "messages": float(self.messages),
            "images": float(self.images),
            "needs_vision": 1.0 if self.needs_vision else 0.0,
            "needs_tools": 1.0 if self.needs_tools else 0.0,
            "needs_json": 1.0 if self.needs_json else 0.0,
            "max_tokens": float(self.max_tokens or 0),
        }
        f = self._text_features
        if complete or f.has_code is not None:
            out["has_code"] = float(self.has_code)
        if complete or f.difficulty is not None:
            out["difficulty"] = round4(self.difficulty)
        return out


def _text_of(content: Any) -> tuple[str, int]:
    """(text, images) of one message's content (a string or a list of parts)."""
    if isinstance(content, str):
        return content, 0
    if not isinstance(content, list):
        return "", 0
    texts: list[str] = []
    images = 0
    for part in content:
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        if kind in _IMAGE_PARTS:
            images += 1
        elif isinstance(part.get("text"), str):
            texts.append(part["text"])
    return "\n".join(texts), images


def _needs_json(body: Mapping[str, Any]) -> bool:
    rf = body.get("response_format")
    return isinstance(rf, dict) and rf.get("type") in ("json_object", "json_schema")


def embed_text(text: str) -> str:
    """The part of ``text`` the embedder sees (bounded, so embedding cost does not grow with length)."""
    if len(text) <= EMBED_HEAD + EMBED_TAIL:
        return text
    return text[:EMBED_HEAD] + " ... " + text[-EMBED_TAIL:]


def estimate_tokens(text: str) -> int:
    """≈ 4 characters a token, at least 1: the estimate used far from any context limit, and by
    ``switchman train``/``eval`` for the same feature."""
    return max(1, round(len(text) / 4))


def analyze(info: RequestInfo, counter: TokenCounter | None = None, *, exact_from: int = 0) -> Analysis:
    """The features of ``info`` (pure CPU work; the tokenizer is loaded once per process).

    Tokens are counted exactly only when the request could come near a context limit: when an upper bound
    of its tokens (4 per character: no tokenizer makes more than one token per UTF-8 byte) plus
    ``max_tokens`` reaches ``exact_from`` (the smallest context window among the candidates). Below that,
    counts are the ≈ 4-characters-a-token estimate, which is what cost estimates, the difficulty heuristic
    and the learned predictor's token feature use anyway (training estimates the same way).
    """
    request = info.request
    body = request.body
    max_output_tokens = request.max_output_tokens
    tools = body.get("tools") or body.get("functions")
    tools_text = str(tools) if tools else ""
    # one pass over the messages: (text, images, is_user) of each and the text of its tool calls
    parts: list[tuple[str, int, bool]] = []
    calls: list[str] = []
    chars, images = len(tools_text), 0
    for m in request.messages:
        content = m.get("content")
        text, n_img = (content, 0) if isinstance(content, str) else _text_of(content)
        parts.append((text, n_img, m.get("role") == "user"))
        chars += len(text)
        images += n_img
        for c in m.get("tool_calls") or ():
            if isinstance(c, dict):
                call = str(c.get("function", ""))
                calls.append(call)
                chars += len(call)
    bound = 4 * chars + images * IMAGE_TOKENS + MESSAGE_OVERHEAD * len(parts) + (max_output_tokens or 0)
    count = (counter or get_token_counter()).count if bound >= exact_from else estimate_tokens
    total = 0
    turns = 0
    last_user, prompt_tokens = "", 0
    for text, n_img, is_user in parts:
        tokens = count(text)
        total += tokens + MESSAGE_OVERHEAD + n_img * IMAGE_TOKENS
        if is_user:
            turns += 1
            last_user, prompt_tokens = text, tokens
    for c in calls:
        total += count(c)
    if tools_text:
        total += count(tools_text)
    return Analysis(
        prompt_tokens,
        total,
        turns,
        len(request.messages),
        images,
        images > 0,
        bool(tools) and body.get("tool_choice") != "none",  # tools, unless the caller turned them off
        _needs_json(body),
        max_output_tokens,
        info.tier,
        info.latency,
        info.task,
        embed_text(last_user),
        _TextFeatures(last_user[:SAMPLE_CHARS], prompt_tokens, turns),
    )


#: Byte tables keeping only the ASCII letters (resp. digits) and turning every other byte into a space:
#: the runs of ASCII text are then ``split()`` from the translated bytes, which costs a fifth of
#: ``re.findall`` (the regex engine spends ~100 instructions a character; ``bytes.translate`` a few).
_KEEP_LETTERS = bytes(c if 0x61 <= c <= 0x7A else 0x20 for c in range(256))
_KEEP_DIGITS = bytes(c if 0x30 <= c <= 0x39 else 0x20 for c in range(256))


def _words_of(sample: str) -> list[str]:
    """The lower-cased words (runs of letters) of ``sample``: on ASCII text the runs of ``a``–``z``
    (the same matches as ``_WORDS``, found by byte translation)."""
    lower = sample.lower()
    if lower.isascii():
        return lower.encode("ascii").translate(_KEEP_LETTERS).decode("ascii").split()
    return _WORDS.findall(lower)


def _count_numbers(sample: str) -> int:
    """How many runs of digits ``sample`` has (``len(_DIGITS.findall(sample))``; by byte translation on
    ASCII text)."""
    if sample.isascii():
        return len(sample.encode("ascii").translate(_KEEP_DIGITS).split())
    return len(_DIGITS.findall(sample))


# --- code ------------------------------------------------------------------------------------------

_KEYWORD_LINE = (
    r"^\s*(?:def|class|import|from\s+\S+\s+import|return|function|const|let|var|public|private|#include|"
    r"package|func|fn|SELECT|INSERT|UPDATE|CREATE\s+TABLE)\b"
)
#: What counts as code (the union of the branches :func:`detect_code` tries one by one).
_CODE_PATTERNS = re.compile(
    r"```|`[^`\n]*[(){}\[\]=;:.][^`\n]*`|"
    + _KEYWORD_LINE
    + r"|=>|->|::|\+\+|!=|==|&&|\|\||;\s*$|\{\s*$|^\s*\}",
    re.MULTILINE,
)
#: Branches that are plain substrings.
_CODE_MARKS = ("```", "=>", "->", "::", "++", "!=", "==", "&&", "||")
_INLINE_CODE = re.compile(r"`[^`\n]*[(){}\[\]=;:.][^`\n]*`")
_OPEN_AT_LINE_END = re.compile(r"[;{]\s*$", re.MULTILINE)
_CLOSE_AT_LINE_START = re.compile(r"^\s*\}", re.MULTILINE)
_KEYWORD_AT_LINE_START = re.compile(_KEYWORD_LINE, re.MULTILINE)
_LINE_KEYWORDS = (
    "def",
    "class",
    "import",
    "from",
    "return",
    "function",
    "const",
    "let",
    "var",
    "public",
    "private",
    "#include",
    "package",
    "func",
    "fn",
    "SELECT",
    "INSERT",
    "UPDATE",
    "CREATE",
)


def detect_code(text: str) -> bool:
    """Code in the text: fenced or inline code, statements that start lines, operators
    (``_CODE_PATTERNS``, over the first :data:`SAMPLE_CHARS` characters).

    The branches are tried one by one, each only when the substring it needs is there: substring
    searches are fast, while the whole pattern tries every position against every branch (~500
    instructions a character; a long prompt with one ``{`` paid it all).
    """
    sample = text[:SAMPLE_CHARS]
    if any(mark in sample for mark in _CODE_MARKS):
        return True
    if "`" in sample and _INLINE_CODE.search(sample) is not None:
        return True
    if ("{" in sample or ";" in sample) and _OPEN_AT_LINE_END.search(sample) is not None:
        return True
    if "}" in sample and _CLOSE_AT_LINE_START.search(sample) is not None:
        return True
    return (
        any(line.lstrip().startswith(_LINE_KEYWORDS) for line in sample.split("\n"))
        and _KEYWORD_AT_LINE_START.search(sample) is not None
    )


# --- language --------------------------------------------------------------------------------------

_SCRIPTS = (
    ("zh", re.compile(r"[\u4e00-\u9fff]")),
    ("ja", re.compile(r"[\u3040-\u30ff]")),
    ("ko", re.compile(r"[\uac00-\ud7af]")),
    ("ru", re.compile(r"[\u0400-\u04ff]")),
    ("ar", re.compile(r"[\u0600-\u06ff]")),
    ("hi", re.compile(r"[\u0900-\u097f]")),
    ("el", re.compile(r"[\u0370-\u03ff]")),
    ("he", re.compile(r"[\u0590-\u05ff]")),
    ("th", re.compile(r"[\u0e00-\u0e7f]")),
)


def _words(s: str) -> frozenset[str]:
    return frozenset(s.split(" "))


_STOPWORDS = {
    "en": _words("the and is are of to in that it for with what how this you can"),
    "es": _words("el la los las de que y en es por para una con cómo qué"),
    "fr": _words("le la les des de et est que une pour dans avec comment quoi"),
    "de": _words("der die das und ist nicht ein eine mit für wie was ich zu"),
    "pt": _words("o os as de que e em um uma para com não como é"),
    "it": _words("il lo gli di che e è un una per con non come sono"),
}
_STOPWORD_LANGS: dict[str, tuple[str, ...]] = {}
for _code, _sw in _STOPWORDS.items():
    for _w in _sw:
        _STOPWORD_LANGS[_w] = (*_STOPWORD_LANGS.get(_w, ()), _code)
_WORDS = re.compile(r"[^\W\d_]+", re.UNICODE)
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")


def guess_language(text: str, words: list[str] | None = None) -> str:
    """A two-letter guess: by script for non-Latin scripts, by stopwords for Latin ones ("" = unknown).

    ``words`` are the lower-cased words of ``text`` when the caller already has them.
    """
    sample = text[:SAMPLE_CHARS]
    if not sample.strip():
        return ""
    if not sample.isascii():
        head = sample[:500]
        rare = "".join(_NON_ASCII.findall(head))  # every script below is outside ASCII
        counts = [(len(rx.findall(rare)), code) for code, rx in _SCRIPTS]
        best_count, best = max(counts)
        if best_count >= 3 or (best_count and best_count * 4 >= len(head)):
            if best == "zh" and counts[1][0]:  # kana present → Japanese
                return "ja"
            return best
    if words is None:
        words = _words_of(sample)
    if not words:
        return ""
    scores: dict[str, int] = {}
    for w in words[:200]:
        for code in _STOPWORD_LANGS.get(w, ()):
            scores[code] = scores.get(code, 0) + 1
    if not scores:
        return "en"
    return max(scores.items(), key=lambda kv: (kv[1], kv[0] == "en"))[0]


# --- difficulty ------------------------------------------------------------------------------------

#: Stems of words that signal open-ended, multi-step or expert work.
_HARD_STEMS = (
    "design",
    "architect",
    "strateg",
    "tradeoff",
    "trade-off",
    "prove",
    "proof",
    "derive",
    "analy",
    "optimi",
    "migrat",
    "refactor",
    "decompos",
    "phased",
    "roadmap",
    "plan",
    "evaluat",
    "compar",
    "implication",
    "comprehensive",
    "justif",
    "critique",
    "algorithm",
    "complexity",
    "concurren",
    "distributed",
    "scal",
    "consisten",
    "security",
    "threat",
    "propos",
    "recommend",
    "diagnos",
    "debug",
    "investigat",
    "constraint",
    "reason",
)
#: The stems by their first four letters (every stem has at least four), so a word is compared with the
#: one or two stems it could start with instead of all of them.
_HARD_BY_PREFIX: dict[str, tuple[str, ...]] = {}
for _stem in _HARD_STEMS:
    _HARD_BY_PREFIX[_stem[:4]] = (*_HARD_BY_PREFIX.get(_stem[:4], ()), _stem)
#: Words of quick lookups, checks and rewrites.
_EASY_WORDS = _words(
    "valid syntax typo spell spelling translate define definition convert format rephrase synonym "
    "tldr quick quickly short simple hello hi thanks thank capital"
)
_DIGITS = re.compile(r"\d+")
#: Words already classified by :func:`_hard_count` (at most :data:`_KNOWN_MAX`), and the hard ones among
#: them: a word is added to ``_HARD_WORDS`` before ``_KNOWN_WORDS``, so a known word's class is final.
_KNOWN_WORDS: set[str] = set()
_HARD_WORDS: set[str] = set()
_KNOWN_MAX = 50_000


def _is_hard(word: str) -> bool:
    stems = _HARD_BY_PREFIX.get(word[:4])
    return stems is not None and word.startswith(stems)


def _hard_count(distinct: set[str]) -> int:
    """How many of ``distinct`` start with a :data:`_HARD_STEMS` stem: set operations for the words seen
    before (prompts share most of their vocabulary), a prefix lookup for the others."""
    unknown = distinct.difference(_KNOWN_WORDS)
    hard = len(
        _HARD_WORDS.intersection(distinct.difference(unknown))
        if unknown
        else _HARD_WORDS.intersection(distinct)
    )
    for w in unknown:
        is_hard = _is_hard(w)
        hard += is_hard
        if len(_KNOWN_WORDS) < _KNOWN_MAX:
            if is_hard:
                _HARD_WORDS.add(w)
            _KNOWN_WORDS.add(w)
    return hard


#: Code adds to the difficulty of prompts longer than this many tokens only.
_CODE_MIN_TOKENS = 150


def difficulty(
    text: str, prompt_tokens: int, turns: int, has_code: bool, words: list[str] | None = None
) -> float:
    """A heuristic difficulty in [0, 1]: longer prompts, reasoning/design vocabulary, many questions
    and long conversations push it up; short lookups, checks and rewrites pull it down. It is the
    input of the default quality prior (see ``routing/scoring.py``), not a learned quantity."""
    sample = text[:SAMPLE_CHARS]
    if words is None:
        words = _words_of(sample)
    # (the clamps are spelled as conditionals: this runs for every request a prior scores)
    length = math.log10(1 + prompt_tokens) / 3.0  # 10 → 0.35, 100 → 0.67, 1000 → 1
    if length > 1.0:
        length = 1.0
    distinct = set(words)
    hard = _hard_count(distinct)
    easy = len(_EASY_WORDS.intersection(distinct))
    numbers = _count_numbers(sample)
    questions = sample.count("?") - 1
    more_turns = turns - 1
    score = (
        0.05
        + 0.35 * length
        + 0.1 * (hard if hard < 6 else 6)
        - 0.12 * (easy if easy < 3 else 3)
        + 0.01 * (numbers if numbers < 10 else 10)
        + 0.02 * (0 if questions < 0 else questions if questions < 5 else 5)
        + 0.03 * (0 if more_turns < 0 else more_turns if more_turns < 5 else 5)
        + (0.05 if has_code and prompt_tokens > _CODE_MIN_TOKENS else 0.0)
    )
    return 1.0 if score >= 1.0 else score if score > 0.0 else 0.0
