"""Embedders: shape, norms, semantics, registry caching, and MiniLM against published values."""

from __future__ import annotations

import numpy as np
import pytest

from switchman.errors import EmbedderUnavailable
from switchman.routing.embed import (
    Embedder,
    HashingEmbedder,
    MiniLMEmbedder,
    available_embedders,
    embed_one,
    get_embedder,
    l2_normalise,
)

PARAPHRASES = ("How do I reverse a list in Python?", "What's the way to reverse a Python list?")
UNRELATED = "The capital of France is Paris."


@pytest.mark.parametrize("name", ["hashing", "wordllama", "minilm"])
def test_embed_contract(name: str) -> None:
    emb = get_embedder(name)
    assert isinstance(emb, Embedder)
    x = emb.embed([*PARAPHRASES, UNRELATED, ""])
    assert x.shape == (4, emb.dim)
    assert x.dtype == np.float32
    norms = np.linalg.norm(x[:3], axis=1)
    np.testing.assert_allclose(norms, 1.0, atol=1e-5)
    assert np.isfinite(x).all()
    assert emb.embed([]).shape == (0, emb.dim)
    assert embed_one(emb, UNRELATED).shape == (emb.dim,)


@pytest.mark.parametrize("name", ["hashing", "wordllama", "minilm"])
def test_paraphrases_closer_than_unrelated(name: str) -> None:
    emb = get_embedder(name)
    a, b, c = emb.embed([*PARAPHRASES, UNRELATED])
    assert float(a @ b) > float(a @ c) + 0.3


def test_minilm_matches_sentence_transformers_reference() -> None:
    # Cosine similarities printed by the sentence-transformers quickstart for all-MiniLM-L6-v2 (the
    # numpy forward pass; the int8 backend is compared with it in test_minilm_onnx.py).
    emb = MiniLMEmbedder(backend="numpy")
    x = emb.embed(["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."])
    sim = x @ x.T
    np.testing.assert_allclose([sim[0, 1], sim[0, 2], sim[1, 2]], [0.6660, 0.1046, 0.1411], atol=5e-4)


def test_minilm_batching_does_not_change_results() -> None:
    emb = MiniLMEmbedder(backend="numpy")
    texts = ["short", "a much longer sentence with many more tokens in it than the first", "mid length text"]
    together = emb.embed(texts)
    alone = np.stack([embed_one(emb, t) for t in texts])
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_minilm_truncates_long_inputs() -> None:
    emb = get_embedder("minilm")
    long_text = "word " * 2000
    assert emb.embed([long_text]).shape == (1, 384)


def test_registry_caches_and_resolves_model_ids() -> None:
    assert set(available_embedders()) >= {"hashing", "wordllama", "minilm"}
    a = get_embedder("wordllama")
    assert get_embedder("wordllama") is a
    assert get_embedder(a.model_id) is a
    with pytest.raises(EmbedderUnavailable):
        get_embedder("no-such-embedder")


def test_hashing_is_deterministic_and_sized() -> None:
    one, two = HashingEmbedder(dim=64), HashingEmbedder(dim=64)
    np.testing.assert_array_equal(one.embed(["same text"]), two.embed(["same text"]))
    assert one.model_id != HashingEmbedder(dim=128).model_id


def test_l2_normalise_keeps_zero_rows() -> None:
    out = l2_normalise(np.array([[3.0, 4.0], [0.0, 0.0]]))
    np.testing.assert_allclose(out, [[0.6, 0.8], [0.0, 0.0]])


@pytest.mark.parametrize("name", ["hashing", "wordllama", "minilm"])
def test_embed_one_is_the_batch_row(name: str) -> None:
    # the per-request call (the embedder's own embed_one where it has one) gives the batch's vector
    emb = get_embedder(name)
    texts = [*PARAPHRASES, UNRELATED, "", "   ", "x " * 300]
    batch = emb.embed(texts)
    for text, row in zip(texts, batch, strict=True):
        one = embed_one(emb, text)
        assert one.dtype == np.float32 and one.shape == (emb.dim,)
        np.testing.assert_array_equal(one, emb.embed([text])[0])
        np.testing.assert_allclose(one, row, atol=1e-6)
