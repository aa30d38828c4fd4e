"""Training, the QualityPredictor interface, artifact round-trip/refusal, and add_model isolation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from switchman.errors import DatasetError, RouterArtifactError
from switchman.learning.evaluate import cross_val_predict, routerbench_metrics
from switchman.learning.importers import import_dataset
from switchman.learning.outcomes import OutcomeMatrix, estimate_tokens, to_matrix
from switchman.learning.train import TrainConfig, add_model, embed_texts, train_router
from switchman.routing.embed import get_embedder
from switchman.routing.learned import QualityPredictor, load_router, save_router


@pytest.fixture(scope="module")
def llmrouter(shared_data: Path) -> tuple[OutcomeMatrix, np.ndarray]:
    data = to_matrix(list(import_dataset("llmrouter", shared_data / "llmrouter-9models")))
    return data, embed_texts(get_embedder("wordllama"), data.texts)


@pytest.mark.parametrize("learner", ["knn", "linear", "ensemble"])
def test_predictor_interface_and_round_trip(
    tmp_path: Path, llmrouter: tuple[OutcomeMatrix, np.ndarray], learner: str
) -> None:
    data, emb = llmrouter
    art = train_router(data, emb, "wordllama/l2_supercat-256", TrainConfig(learner=learner))
    pred = art.predictor
    assert isinstance(pred, QualityPredictor)
    q = pred.predict(emb[0], {"prompt_tokens": 120.0, "unrelated": 1.0})
    assert set(q) == set(data.models)
    assert all(0.0 <= v <= 1.0 for v in q.values())
    assert pred.predict(emb[0], {}).keys() == q.keys()
    save_router(tmp_path / "r", art)
    back = load_router(tmp_path / "r", embedder_id="wordllama/l2_supercat-256")
    assert back.models == art.models and back.fingerprint == data.fingerprint
    assert back.predictor.predict(emb[0], {"prompt_tokens": 120.0}) == pytest.approx(q)
    assert not list((tmp_path / "r").glob("*.pkl"))


def test_wrong_embedder_or_corrupt_artifact_refuses(
    tmp_path: Path, llmrouter: tuple[OutcomeMatrix, np.ndarray]
) -> None:
    data, emb = llmrouter
    save_router(
        tmp_path / "r", train_router(data, emb, "wordllama/l2_supercat-256", TrainConfig(learner="knn"))
    )
    with pytest.raises(RouterArtifactError, match="trained with embedder"):
        load_router(tmp_path / "r", embedder_id="sentence-transformers/all-MiniLM-L6-v2")
    (tmp_path / "r" / "manifest.json").write_text("{")
    with pytest.raises(RouterArtifactError):
        load_router(tmp_path / "r")
    with pytest.raises(RouterArtifactError):
        load_router(tmp_path / "missing")


def test_add_model_fits_new_head_and_leaves_others_untouched(
    tmp_path: Path, llmrouter: tuple[OutcomeMatrix, np.ndarray]
) -> None:
    data, emb = llmrouter
    new = "llama-3.3-nemotron-super-49b-v1"
    old_models = [m for m in data.models if m != new]
    base = train_router(
        data.subset(range(400)), emb[:400], "w", TrainConfig(learner="ensemble"), models=old_models
    )
    j = data.models.index(new)
    rows = np.arange(400, 460)
    grown = add_model(base, new, emb[rows], [data.texts[i] for i in rows], data.scores[rows, j])
    assert grown.models == (*old_models, new)
    probe = emb[470:480]
    tokens = [float(estimate_tokens(t)) for t in data.texts[470:480]]
    before = base.predictor.predict_batch(probe, tokens)
    after = grown.predictor.predict_batch(probe, tokens)
    np.testing.assert_array_equal(after[:, : len(old_models)], before)
    assert np.all((after[:, -1] >= 0) & (after[:, -1] <= 1))
    save_router(tmp_path / "g", grown)
    assert load_router(tmp_path / "g").models == grown.models
    with pytest.raises(DatasetError, match="at least 50"):
        add_model(base, new, emb[:10], list(data.texts[:10]), data.scores[:10, j])
    with pytest.raises(DatasetError, match="already"):
        add_model(grown, new, emb[rows], [data.texts[i] for i in rows], data.scores[rows, j])


def test_learned_router_beats_zero_router_out_of_fold(llmrouter: tuple[OutcomeMatrix, np.ndarray]) -> None:
    data, emb = llmrouter
    tokens = [float(estimate_tokens(t)) for t in data.texts]

    def fit_predict(train: np.ndarray, test: np.ndarray) -> np.ndarray:
        art = train_router(data.subset(train), emb[train], "w", TrainConfig(learner="knn"))
        return art.predictor.predict_batch(emb[test], [tokens[i] for i in test])

    pred = cross_val_predict(len(data), fit_predict, k=5)
    report = routerbench_metrics(pred, data.scores, data.costs, data.models)
    assert report.aiq > report.zero_aiq + 0.01


def test_auto_learner_records_its_choice(llmrouter: tuple[OutcomeMatrix, np.ndarray]) -> None:
    data, emb = llmrouter
    sub = data.subset(range(150))
    art = train_router(sub, emb[:150], "w", TrainConfig(learner="auto"), models=list(data.models[:3]))
    sel = art.info["selection"]
    assert sel["metric"] == "aiq" and sel["chosen"] in sel["scores"]
    assert set(sel["scores"]) == {"knn", "linear", "ensemble"}
    assert art.metrics["inner_cv_3fold"]["chosen"] == sel["chosen"]


def test_bad_inputs(llmrouter: tuple[OutcomeMatrix, np.ndarray]) -> None:
    data, emb = llmrouter
    with pytest.raises(DatasetError):
        TrainConfig(learner="magic")
    with pytest.raises(DatasetError):
        train_router(data, emb[:10], "w")
    with pytest.raises(DatasetError):
        train_router(data, emb, "w", models=["no-such-model"])
