"""Training, the QualityPredictor interface, artifact round-trip/refusal, and add_model isolation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from switchman.errors import DatasetError, RouterArtifactError
from switchman.learning.evaluate import cross_val_predict, routerbench_metrics
from switchman.learning.importers import import_dataset
from switchman.learning.outcomes import OutcomeMatrix, estimate_tokens, to_matrix
from switchman.learning.train import (
    TrainConfig,
    add_model,
    embed_texts,
    fit_predictor,
    select_learner,
    train_router,
)
from switchman.routing.embed import get_embedder
from switchman.routing.learned import ProjectedPredictor, QualityPredictor, load_router, save_router


@pytest.fixture(scope="module")
def llmrouter(shared_data: Path) -> tuple[OutcomeMatrix, np.ndarray]:
    data = to_matrix(list(import_dataset("llmrouter", shared_data / "llmrouter-9models")))
    return data, embed_texts(get_embedder("wordllama"), data.texts)


@pytest.mark.parametrize("learner", ["knn", "linear", "ensemble", "proj", "proj+knn"])
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


@pytest.mark.parametrize("learner", ["ensemble", "proj", "proj+knn"])
def test_add_model_fits_new_head_and_leaves_others_untouched(
    tmp_path: Path, llmrouter: tuple[OutcomeMatrix, np.ndarray], learner: str
) -> None:
    data, emb = llmrouter
    new = "llama-3.3-nemotron-super-49b-v1"
    old_models = [m for m in data.models if m != new]
    base = train_router(
        data.subset(range(400)), emb[:400], "w", TrainConfig(learner=learner), models=old_models
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
    back = load_router(tmp_path / "g")
    assert back.models == grown.models
    np.testing.assert_array_equal(back.predictor.predict_batch(probe, tokens), after)
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
    assert sel["rule"] == "one-standard-error" and sel["default"] == "proj"
    assert set(sel["diff_vs_default"]) == {"knn", "linear", "ensemble", "proj+knn"}
    assert set(sel["scores"]) == {"knn", "linear", "proj", "ensemble", "proj+knn"}
    assert sel["folds"] == 5
    assert art.metrics["inner_cv"]["chosen"] == sel["chosen"]


def test_bad_inputs(llmrouter: tuple[OutcomeMatrix, np.ndarray]) -> None:
    data, emb = llmrouter
    with pytest.raises(DatasetError):
        TrainConfig(learner="magic")
    with pytest.raises(DatasetError):
        train_router(data, emb[:10], "w")
    with pytest.raises(DatasetError):
        train_router(data, emb, "w", models=["no-such-model"])


def _two_groups(rng: np.random.Generator, n: int, dim: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors whose group (sign of feature 0, one weak direction among noise) decides which of
    two models answers; the rest of the vector is noise that a plain cosine neighbourhood mostly sees."""
    group = rng.integers(0, 2, n)
    x = rng.normal(size=(n, dim))
    x[:, 0] = np.where(group == 1, 0.6, -0.6) + 0.2 * rng.normal(size=n)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    p = np.where(group[:, None] == 1, [0.9, 0.2], [0.2, 0.9])
    return x, (rng.random((n, 2)) < p).astype(float)


def test_projected_learner_finds_the_direction_that_matters_and_beats_knn() -> None:
    rng = np.random.default_rng(7)
    x, y = _two_groups(rng, 300)
    xt, _ = _two_groups(rng, 2000)
    tokens, tokens_t = [50.0] * len(x), [50.0] * len(xt)
    acc = {}
    for learner in ("proj", "knn"):
        pred = fit_predictor(x, tokens, y, ["a", "b"], TrainConfig(learner=learner))
        p = pred.predict_batch(xt, tokens_t)
        acc[learner] = float(np.mean((p[:, 0] > p[:, 1]) == (xt[:, 0] > 0)))
    # the ridge projection puts the decisive direction first, so the kernel average is over the right group
    assert acc["proj"] > 0.85
    assert acc["proj"] > acc["knn"]


def test_projected_learner_skips_unjudged_scores_and_shrinks_far_queries() -> None:
    rng = np.random.default_rng(3)
    x, y = _two_groups(rng, 200)
    y[:50, 1] = np.nan  # model b unjudged on a quarter of the prompts
    pred = fit_predictor(x, [10.0] * len(x), y, ["a", "b"], TrainConfig(learner="proj"))
    assert isinstance(pred, ProjectedPredictor)
    assert pred.projection.shape == (x.shape[1] + 2, 2)
    p = pred.predict_batch(x, [10.0] * len(x))
    assert np.isfinite(p).all() and (p >= 0).all() and (p <= 1).all()
    one = pred.predict(x[0], {"prompt_tokens": 10.0})
    assert list(one) == ["a", "b"] and one["a"] == pytest.approx(p[0, 0])
    # with a huge alpha every prediction is the model's mean over the prompts it was judged on
    flat = fit_predictor(x, [10.0] * len(x), y, ["a", "b"], TrainConfig(learner="proj", alpha=1e9))
    means = np.array([y[:, 0].mean(), np.nanmean(y[:, 1])])
    np.testing.assert_allclose(flat.predict_batch(x[:5], [10.0] * 5), np.tile(means, (5, 1)), atol=1e-6)


def test_artifacts_in_the_pre_proj_layout_still_load(tmp_path: Path) -> None:
    """An ensemble artifact exactly as written before proj existed (3-fold metrics key, no bandwidths)."""
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(20, 8)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    scores = rng.random((20, 2))
    weights = rng.normal(size=(2, 8 + 2))
    manifest = {
        "format": "switchman-router/1",
        "embedder": "w",
        "models": ["a", "b"],
        "predictor": {
            "kind": "ensemble",
            "members": [
                {"kind": "knn", "k": 5, "alpha": 1.0, "tau": 0.1, "banks": [{"models": ["a", "b"]}]},
                {"kind": "linear", "models": ["a", "b"]},
            ],
        },
        "training_fingerprint": "sha256:x",
        "metrics": {"inner_cv_3fold": {"chosen": "ensemble"}},
        "calibration": {},
        "info": {"train": {"learner": "auto", "k": 5, "alpha": 1.0, "tau": 0.1, "l2": 10.0}},
    }
    root = tmp_path / "old"
    root.mkdir()
    (root / "manifest.json").write_text(json.dumps(manifest))
    np.savez(
        root / "weights.npz",
        **{"m0.bank0.embeddings": emb, "m0.bank0.scores": scores, "m1.weights": weights},
    )
    art = load_router(root, embedder_id="w")
    assert art.models == ("a", "b")
    q = art.predictor.predict(emb[0], {"prompt_tokens": 10.0})
    assert set(q) == {"a", "b"} and all(0.0 <= v <= 1.0 for v in q.values())
    # add_model still works on it and leaves a and b untouched
    grown = add_model(art, "c", emb.repeat(3, axis=0), ["x"] * 60, rng.random(60))
    tokens = [10.0] * 5
    np.testing.assert_array_equal(
        grown.predictor.predict_batch(emb[:5], tokens)[:, :2], art.predictor.predict_batch(emb[:5], tokens)
    )


def _xor(rng: np.random.Generator, n: int, flip: float) -> tuple[OutcomeMatrix, np.ndarray]:
    """Two models whose winner is the XOR of two embedding directions: no linear projection separates
    it, a cosine neighbourhood does. ``flip`` mixes every answer's chance towards a coin toss (noise)."""
    q = rng.choice([-1.0, 1.0], size=(n, 2))
    x = rng.normal(scale=0.15, size=(n, 8))
    x[:, :2] += 0.6 * q
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    p = np.where((q[:, 0] == q[:, 1])[:, None], [0.95, 0.3], [0.3, 0.7])
    y = (rng.random((n, 2)) < (1 - flip) * p + flip * 0.5).astype(float)
    data = OutcomeMatrix(
        ids=tuple(str(i) for i in range(n)),
        texts=("a prompt of a few words",) * n,
        tasks=(None,) * n,
        models=("a", "b"),
        scores=y,
        costs=np.full((n, 2), np.nan),
    )
    return data, x


def test_auto_replaces_proj_only_when_a_learner_is_better_by_more_than_one_standard_error() -> None:
    # many clean prompts: the neighbourhood learners see the XOR, proj cannot, and the gap is precise
    data, x = _xor(np.random.default_rng(0), 600, flip=0.0)
    sel = select_learner(data, x, TrainConfig())
    assert sel["metric"] == "apgr" and sel["chosen"] != "proj"
    assert sel["chosen"] == max(sel["scores"], key=sel["scores"].get)
    diff = sel["diff_vs_default"][sel["chosen"]]
    assert diff["mean"] > diff["se"] > 0
    # a handful of noisy prompts: some learner always has the best mean score by luck, none by > 1 SE
    naive = []
    for seed in range(6):
        data, x = _xor(np.random.default_rng(seed), 20, flip=0.8)
        sel = select_learner(data, x, TrainConfig())
        assert sel["chosen"] == "proj"
        assert all(d["mean"] <= d["se"] for d in sel["diff_vs_default"].values())
        naive.append(max(sel["scores"], key=sel["scores"].get))
    assert set(naive) != {"proj"}  # picking the best mean would not have kept proj every time
