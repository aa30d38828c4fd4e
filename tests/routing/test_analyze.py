"""Request analysis: counts, needs, code, language, difficulty, declared metadata."""

from __future__ import annotations

import random

import numpy as np
from routing_helpers import request

from switchman.routing.analyze import (
    IMAGE_TOKENS,
    analyze,
    detect_code,
    embed_text,
    estimate_tokens,
    guess_language,
)
from switchman.routing.tokens import EXACT_CHARS, CharCounter, get_token_counter


def test_token_counts_come_from_the_bundled_tokenizer() -> None:
    counter = get_token_counter()
    assert counter.name == "llama-bpe-32k"  # not the chars/4 fallback: the tokenizer ships in wordllama
    assert counter.count("is `{k: v for k, v in d.items()}` valid syntax?") == 18
    assert counter.count("") == 0


def test_long_texts_are_estimated_within_a_few_percent() -> None:
    counter = get_token_counter()
    text = " ".join(f"Sentence number {i} talks about routing requests to models." for i in range(400))
    assert len(text) > EXACT_CHARS
    exact = len(counter._words.ids(text))  # type: ignore[attr-defined]
    assert abs(counter.count(text) - exact) / exact < 0.05


def test_conversation_turns_and_prompt_tokens() -> None:
    info = request(
        messages=[
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "first question"},
            {"role": "assistant", "content": "first answer"},
            {"role": "user", "content": "second question, a little longer than the first one"},
        ]
    )
    a = analyze(info)
    assert a.turns == 2 and a.messages == 4
    counter = get_token_counter()
    assert a.prompt_tokens == counter.count("second question, a little longer than the first one")
    assert a.conversation_tokens > a.prompt_tokens + counter.count("first question")
    assert not (a.needs_vision or a.needs_tools or a.needs_json)


def test_images_need_vision_and_count_tokens() -> None:
    parts = [
        {"type": "text", "text": "What is in this picture?"},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
    ]
    a = analyze(request(parts))
    assert a.needs_vision and a.images == 1
    assert a.conversation_tokens >= IMAGE_TOKENS
    assert a.text == "What is in this picture?"


def test_tools_and_json_mode() -> None:
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    assert analyze(request("x", body={"tools": [tool]})).needs_tools
    assert not analyze(request("x", body={"tools": [tool], "tool_choice": "none"})).needs_tools
    assert analyze(request("x", body={"response_format": {"type": "json_object"}})).needs_json
    assert not analyze(request("x", body={"response_format": {"type": "text"}})).needs_json


def test_max_tokens_and_declared_metadata() -> None:
    a = analyze(request("x", body={"max_tokens": 77}, tier="premium", latency="batch", task="summarise"))
    assert a.max_tokens == 77
    assert (a.tier, a.latency, a.task) == ("premium", "batch", "summarise")
    assert a.features()["max_tokens"] == 77.0


def test_code_detection() -> None:
    assert detect_code("is `{k: v for k, v in d.items()}` valid syntax?")
    assert detect_code("why does this fail?\n```python\nprint(x)\n```")
    assert detect_code("def f(x):\n    return x + 1")
    assert not detect_code("What is the capital of Australia?")
    assert not detect_code("Write a haiku about autumn leaves")


def test_language_guess() -> None:
    assert guess_language("What is the best way to learn a language?") == "en"
    assert guess_language("¿Cuál es la mejor manera de aprender un idioma para los niños?") == "es"
    assert guess_language("Quelle est la meilleure façon d'apprendre une langue pour les enfants ?") == "fr"
    assert guess_language("Wie lernt man am besten eine Sprache, und was ist der Trick?") == "de"
    assert guess_language("学习语言的最好方法是什么？") == "zh"
    assert guess_language("言語を学ぶ最良の方法は何ですか？") == "ja"
    assert guess_language("Какой лучший способ выучить язык?") == "ru"
    assert guess_language("") == ""


def test_difficulty_orders_easy_below_hard() -> None:
    easy = analyze(request("Translate 'good morning' to Spanish")).difficulty
    hard = analyze(
        request(
            "We're migrating our monolith to microservices. It has 47 tables and shared state. Propose a "
            "phased decomposition strategy, analyse the trade-offs and plan for data consistency."
        )
    ).difficulty
    assert 0.0 <= easy < 0.3 < 0.8 < hard <= 1.0


def test_embed_text_is_bounded_and_keeps_the_end() -> None:
    long = "context " * 1000 + "QUESTION: what is the answer?"
    text = embed_text(long)
    assert len(text) < 1100 and text.endswith("what is the answer?")
    assert embed_text("short") == "short"


def test_char_counter_fallback() -> None:
    assert CharCounter().count("abcdefgh") == 2
    a = analyze(request("abcdefgh"), CharCounter())
    assert a.prompt_tokens == 2


def test_tokens_are_counted_exactly_only_near_a_context_limit() -> None:
    text = "is `{k: v for k, v in d.items()}` valid syntax?"  # 48 characters, 18 exact tokens
    info = request(messages=[{"role": "user", "content": text}])
    far = analyze(info, exact_from=64_000)  # 4 × 48 chars cannot come near 64k tokens: estimate
    assert far.prompt_tokens == estimate_tokens(text) == 12
    near = analyze(info, exact_from=100)  # the upper bound (4 per char) passes 100: count exactly
    assert near.prompt_tokens == 18
    big = "word " * 30_000  # 150k characters against an 8k window: always exact (sampled) counting
    huge = analyze(request(messages=[{"role": "user", "content": big}]), exact_from=4_000)
    assert huge.prompt_tokens == get_token_counter().count(big)


# --- lazily computed text features ------------------------------------------------------------------

SAMPLES = [
    "Plain prose - with dashes: and colons, but no code at all.",
    "x = 1; y = 2;",
    "call `f(x)` first",
    "a -> b and c => d",
    "    return value",
    "from os import path",
    "if (a == b) {\n  go();\n}",
    "Ça coûte 12,50 € — 三 数字 ١٢٣ and 7 apples, 8 pears",
    "Сколько стоит 3 яблока? Это 45 рублей.",
    "数学の問題: 1 + 2 = 3 を証明してください",
    "Numbers 1 2 3 4 5 6 7 8 9 10 11 12 13 and more",
]


def test_fast_paths_match_the_reference_patterns() -> None:
    from switchman.routing import analyze as an

    for text in SAMPLES:
        assert detect_code(text) == (an._CODE_PATTERNS.search(text) is not None), text
        assert an._words_of(text) == an._WORDS.findall(text.lower()), text
        assert an._count_numbers(text) == len(an._DIGITS.findall(text)), text
    # the byte-translation paths (ASCII) against the reference patterns, on every ASCII character
    rng = random.Random(5)
    ascii_chars = [chr(c) for c in range(128)]
    for _ in range(3000):
        text = "".join(rng.choice(ascii_chars) for _ in range(rng.randint(0, 40)))
        assert an._words_of(text) == an._WORDS.findall(text.lower()), repr(text)
        assert an._count_numbers(text) == len(an._DIGITS.findall(text)), repr(text)
    rng = random.Random(3)  # branch-by-branch detection against the whole pattern on code-ish noise
    chars = [*"ab ;{}`=-><:+!&|\n\t()[].", "def ", "return ", "SELECT ", "from x import "]
    for _ in range(3000):
        text = "".join(rng.choice(chars) for _ in range(rng.randint(0, 30)))
        assert detect_code(text) == (an._CODE_PATTERNS.search(text) is not None), repr(text)
    # difficulty's number count: the first 10 runs of digits, ASCII or not
    assert analyze(request(SAMPLES[-1])).difficulty > analyze(request("Numbers and more")).difficulty


def test_text_features_are_computed_when_first_read() -> None:
    text = "def f(x):\n    return x\n" * 40  # > 150 tokens of code
    a = analyze(request(text))
    assert a.computed == {}
    assert set(a.features()) >= {"prompt_tokens", "needs_tools"}
    assert "difficulty" not in a.features() and "has_code" not in a.features()
    d = a.difficulty  # code counts in the difficulty of long prompts: the code check runs for it
    assert a.computed == {"has_code": True, "difficulty": d}
    assert a.features()["has_code"] == 1.0 and a.features()["difficulty"] == round(d, 4)
    assert "language" not in a.computed
    assert a.language == "en" and a.computed["language"] == "en"
    short = analyze(request("hello, how are you?"))
    assert short.difficulty < 0.3 and "has_code" not in short.computed  # short: no code check needed
    assert set(analyze(request("hi")).features(complete=True)) >= {"has_code", "difficulty"}
    copy = a.with_embedding(np.zeros(2, dtype=np.float32))
    assert copy.computed == a.computed


def test_with_embedding_copies_every_field() -> None:
    import dataclasses

    a = analyze(request("hello there", body={"max_tokens": 9}, tier="premium"))
    e = np.ones(3, dtype=np.float32)
    copy = a.with_embedding(e)
    for f in dataclasses.fields(a):
        want = e if f.name == "embedding" else getattr(a, f.name)
        assert getattr(copy, f.name) is want, f.name
