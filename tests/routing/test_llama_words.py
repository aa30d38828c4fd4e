"""The word-by-word Llama tokenizer gives exactly the ids of the bundled ``tokenizers`` tokenizer."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import wordllama
from tokenizers import Tokenizer
from wordllama import WordLlama

from switchman.routing import llama_words
from switchman.routing.embed import WordLlamaEmbedder, l2_normalise
from switchman.routing.llama_words import WordTokenizer

TOKENIZER = Path(wordllama.__file__).parent / "tokenizers" / "l2_supercat_tokenizer_config.json"

TEXTS = [
    "",
    " ",
    "   ",
    "a  b",
    "  leading and trailing  ",
    "is `{k: v for k, v in d.items()}` valid syntax?",
    "def f(x):\n    return x ** 2\n\n\tif x:  # two spaces\n        pass",
    "héllo wörld, ça va? 😀 emoji and 世界 and 日本語のテキスト and русский текст",
    "non\u00a0breaking and\u2009thin spaces, \u2581 the SentencePiece space itself, \u2581\u2581x",
    "special tokens stay special: <s> and </s> and <unk>",
    "a" * 300 + " " + "bcd" * 60,
    "numbers 1234567890 3.14159 -42 1e-9 0xFF",
    "line one\r\nline two\rline three\n\n\n",
    "$140. (e.g. 2/3), x=1;y=2 -> {a: [b]} 'quoted' \"double\" 10% v1.2.3 a_b-c",
    "trailing run   ",
]


@pytest.fixture(scope="module")
def reference() -> Tokenizer:
    tok = Tokenizer.from_file(str(TOKENIZER))
    tok.no_padding()
    tok.no_truncation()
    return tok


@pytest.mark.parametrize("prewarm", [False, True])
def test_ids_equal_the_bundled_tokenizer(reference: Tokenizer, prewarm: bool) -> None:
    words = WordTokenizer(TOKENIZER.read_text(encoding="utf-8"), prewarm=prewarm)
    assert bool(words._words) == prewarm
    assert words.split  # the bundled tokenizer has the shape that can be split into pieces
    for _ in range(2):  # second pass: from the cache
        for text in TEXTS:
            assert words.ids(text) == reference.encode(text, add_special_tokens=False).ids, text
            assert words.count(text) == len(reference.encode(text, add_special_tokens=False).ids)


def test_cache_is_bounded_and_keeps_the_prewarmed_words(
    reference: Tokenizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(llama_words, "MAX_CACHED_WORDS", 8)
    words = WordTokenizer(TOKENIZER.read_text(encoding="utf-8"), prewarm=True)
    seed = len(words._seed)
    assert seed > 10_000 and "the" in words._words
    text = " ".join(f"word{i} Zq{i}x" for i in range(50))
    assert words.ids(text) == reference.encode(text, add_special_tokens=False).ids
    assert len(words._words) <= seed + 8 and len(words._parts) <= 8
    assert "the" in words._words


def test_other_tokenizer_shapes_are_not_split(reference: Tokenizer) -> None:
    other = Tokenizer.from_str(TOKENIZER.read_text(encoding="utf-8"))
    other.normalizer = None
    words = WordTokenizer(other.to_str())
    assert not words.split
    text = "a  b c"
    other.no_padding()
    assert words.ids(text) == other.encode(text, add_special_tokens=False).ids


def test_wordllama_embedder_equals_wordllama_mean_pooling() -> None:
    model = WordLlama.load(
        config="l2_supercat", dim=256, cache_dir=Path(wordllama.__file__).parent, disable_download=True
    )
    texts = [t for t in TEXTS if t]
    embedder = WordLlamaEmbedder()
    ours = embedder.embed(texts)
    theirs = l2_normalise(np.asarray(model.embed(texts, norm=False, return_np=True), dtype=np.float32))
    np.testing.assert_allclose(ours, theirs, atol=1e-6)
    one_by_one = np.concatenate([embedder.embed([t]) for t in texts])  # the per-request path
    np.testing.assert_allclose(one_by_one, theirs, atol=1e-6)


def test_ids_equal_the_bundled_tokenizer_on_real_prompts(reference: Tokenizer) -> None:
    """The LLMRouter test questions and up to 1,500 RouterArena questions (../shared/data)."""
    data = Path(__file__).resolve().parents[2].parent / "shared" / "data"
    llmrouter = data / "llmrouter-9models" / "data" / "dcrouter_preprocessed" / "test.json"
    arena = data / "routerarena-2models" / "cached_results" / "gemini-2.0-flash-001.jsonl"
    if not llmrouter.exists() or not arena.exists():
        pytest.skip("../shared/data is not present")
    prompts = [row["question"] for row in json.loads(llmrouter.read_text())]
    with arena.open() as fh:
        prompts += [json.loads(line)["question"] for _, line in zip(range(1500), fh, strict=False)]
    assert len(prompts) > 1000
    words = WordTokenizer(TOKENIZER.read_text(encoding="utf-8"), prewarm=True)
    for text in prompts:
        assert words.ids(text) == reference.encode(text, add_special_tokens=False).ids, text[:200]
