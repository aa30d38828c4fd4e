"""Fit quality predictors from outcome data (numpy only) and add models to a trained router.

Learners (``TrainConfig.learner``):

``knn``       store the training embeddings and scores; predict the shrunk mean of the k nearest prompts.
``linear``    one L2-regularised logistic head per model over ``[embedding, log-tokens, 1]``, fitted by
              Newton's method (IRLS); soft labels (scores in [0, 1]) are fine.
``proj``      kernel regression in a learned projection: one ridge regression of all models' centred
              scores on ``[embedding, log-tokens, 1]`` (a shared projection whose column j predicts
              model j) maps every prompt to a point where nearness means "the models fare alike";
              each model's quality is the Gaussian-kernel mean of the training prompts there, shrunk
              towards its overall mean. The projection shares statistical strength across models,
              which matters with a few hundred prompts; it is what reaches the LLMRouter target.
``ensemble``  the mean of kNN and linear.
``proj+knn``  the mean of proj and kNN.
``auto``      (default) 5-fold cross-validation of the five on the training data, scored per fold with
              the metric the router will be judged by (APGR for two models, AIQ when every model has
              a cost, else the Brier score); ``proj`` is kept unless another learner beats it by more
              than one standard error of the paired per-fold differences (the one-standard-error
              rule). The choice, the scores and the differences are recorded in the artifact.

Each model is fitted only on the prompts where it has a score, so a model added later with
:func:`add_model` gets its own kNN bank, its own head and its own bank of projected prompts (through
the unchanged projection), and leaves every other model's predictions bit-for-bit unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from switchman.errors import DatasetError
from switchman.learning.evaluate import kfold_indices, routellm_gain, routerbench_metrics
from switchman.learning.outcomes import OutcomeMatrix, estimate_tokens
from switchman.routing.analyze import embed_text
from switchman.routing.embed import Embedder
from switchman.routing.learned import (
    EnsemblePredictor,
    KNNBank,
    KNNPredictor,
    LinearPredictor,
    Predictor,
    ProjectedBank,
    ProjectedPredictor,
    RouterArtifact,
    design_matrix,
)

__all__ = [
    "MIN_ADD_MODEL_PROMPTS",
    "TrainConfig",
    "add_model",
    "embed_texts",
    "fit_logistic",
    "fit_predictor",
    "fit_projected",
    "select_learner",
    "train_router",
]

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
Progress = Callable[[int], None]
LEARNERS = ("auto", "ensemble", "knn", "linear", "proj", "proj+knn")
#: learners that are the mean of two others
PAIRS = {"ensemble": ("knn", "linear"), "proj+knn": ("proj", "knn")}
MIN_ADD_MODEL_PROMPTS = 50


@dataclass(frozen=True, slots=True)
class TrainConfig:
    learner: str = "auto"
    k: int = 100  # neighbours (at most)
    alpha: float = 1.0  # pseudo-neighbours at the model's mean (kNN shrinkage)
    tau: float = 0.1  # similarity temperature of the neighbour weights
    l2: float = 10.0  # ridge strength of the logistic heads and the projection (embeddings are unit vectors)
    # proj kernel widths, relative to the mean squared distance between projected prompts; the
    # prediction is the mean of one smoother per width
    bandwidths: tuple[float, ...] = (0.05, 0.1, 0.2)

    def __post_init__(self) -> None:
        if self.learner not in LEARNERS:
            raise DatasetError(f"unknown learner {self.learner!r} (known: {', '.join(LEARNERS)})")

    def describe(self) -> dict[str, Any]:
        return {
            "learner": self.learner,
            "k": self.k,
            "alpha": self.alpha,
            "tau": self.tau,
            "l2": self.l2,
            "bandwidths": list(self.bandwidths),
        }


def embed_texts(
    embedder: Embedder, texts: Sequence[str], *, batch: int = 256, progress: Progress | None = None
) -> F32:
    """Embed many texts in batches, reporting the number done after each batch.

    Each text is cut exactly as the gateway cuts a live prompt before embedding it
    (:func:`switchman.routing.analyze.embed_text`: start + end of long texts), so that a router is
    trained on the same view of a prompt that it will see when serving."""
    out = np.zeros((len(texts), embedder.dim), dtype=np.float32)
    for start in range(0, len(texts), batch):
        chunk = [embed_text(t) for t in texts[start : start + batch]]
        out[start : start + len(chunk)] = embedder.embed(chunk)
        if progress is not None:
            progress(len(chunk))
    return out


def _design(embeddings: npt.NDArray[np.floating], prompt_tokens: Sequence[float]) -> F64:
    return design_matrix(embeddings, prompt_tokens)


def fit_logistic(x: F64, y: F64, l2: float, *, max_iter: int = 30, tol: float = 1e-6) -> F64:
    """Ridge logistic regression by Newton's method; the last column of ``x`` is the (unpenalised) bias."""
    d = x.shape[1]
    penalty = np.full(d, l2)
    penalty[-1] = 1e-6
    w = np.zeros(d)
    mean = float(np.clip(y.mean(), 1e-3, 1 - 1e-3))
    w[-1] = np.log(mean / (1 - mean))
    for _ in range(max_iter):
        p = 1.0 / (1.0 + np.exp(-(x @ w)))
        grad = x.T @ (p - y) + penalty * w
        hess = (x * (p * (1 - p))[:, None]).T @ x + np.diag(penalty)
        step = np.linalg.solve(hess, grad)
        w -= step
        if float(np.abs(step).max()) < tol:
            break
    return w


def _fit_linear(x: F64, scores: F64, models: Sequence[str], l2: float) -> LinearPredictor:
    heads = []
    for j in range(len(models)):
        rows = np.isfinite(scores[:, j])
        heads.append(fit_logistic(x[rows], scores[rows, j], l2))
    return LinearPredictor(tuple(models), np.vstack(heads))


def _ridge_projection(x: F64, scores: F64, l2: float) -> F64:
    """(d, m): column j = ridge regression of model j's centred scores on ``x`` (its judged rows only);
    the bias, last column of ``x``, is not penalised."""
    judged = np.isfinite(scores)
    penalty = np.full(x.shape[1], l2)
    penalty[-1] = 1e-6
    cols = []
    for j in range(scores.shape[1]):
        rows = judged[:, j]
        xj, yj = x[rows], scores[rows, j]
        cols.append(np.linalg.solve(xj.T @ xj + np.diag(penalty), xj.T @ (yj - yj.mean())))
    return np.stack(cols, axis=1)


def _spread(points: F64) -> float:
    """Mean squared distance between two projected prompts (the unit of the relative bandwidths)."""
    s = 2.0 * float(points.var(axis=0).sum())
    return s if s > 0 else 1.0


def fit_projected(
    x: F64, scores: F64, models: Sequence[str], l2: float, bandwidths: Sequence[float], alpha: float
) -> ProjectedPredictor:
    """Ridge projection of ``x`` onto every model's centred score, then kernel smoothers there.

    The prediction is the mean of one Gaussian-kernel smoother per width in ``bandwidths``, each
    relative to the mean squared distance between projected training prompts (so scale-free): a
    multi-scale kernel instead of one width picked by a cross-validation that is too noisy to trust
    on a few hundred prompts."""
    projection = _ridge_projection(x, scores, l2)
    points = x @ projection
    bank = ProjectedBank(points, tuple(models), np.asarray(scores, dtype=np.float64))
    unit = _spread(points)
    return ProjectedPredictor(projection, (bank,), tuple(w * unit for w in bandwidths), alpha=alpha)


def fit_predictor(
    embeddings: npt.NDArray[np.floating],
    prompt_tokens: Sequence[float],
    scores: F64,
    models: Sequence[str],
    config: TrainConfig,
) -> Predictor:
    """A predictor for ``models`` from ``(n, dim)`` embeddings and ``(n, m)`` scores (NaN = unjudged)."""
    if len(embeddings) == 0:
        raise DatasetError("no training prompts")
    if config.learner in PAIRS:
        a, b = PAIRS[config.learner]
        members = (
            fit_predictor(embeddings, prompt_tokens, scores, models, replace(config, learner=a)),
            fit_predictor(embeddings, prompt_tokens, scores, models, replace(config, learner=b)),
        )
        return EnsemblePredictor(members)  # type: ignore[arg-type]
    if config.learner == "knn":
        emb32 = np.ascontiguousarray(embeddings, dtype=np.float32)
        bank = KNNBank(emb32, tuple(models), np.asarray(scores, dtype=np.float64))
        return KNNPredictor((bank,), config.k, config.alpha, config.tau)
    x = _design(embeddings, prompt_tokens)
    if config.learner == "linear":
        return _fit_linear(x, scores, models, config.l2)
    if config.learner == "proj":
        return fit_projected(
            x, np.asarray(scores, dtype=np.float64), models, config.l2, config.bandwidths, config.alpha
        )
    raise DatasetError(f"cannot fit learner {config.learner!r} directly")


def train_router(
    data: OutcomeMatrix,
    embeddings: npt.NDArray[np.floating],
    embedder_id: str,
    config: TrainConfig = TrainConfig(),
    *,
    models: Sequence[str] | None = None,
) -> RouterArtifact:
    """Train a router artifact on ``data`` whose texts were embedded (in order) by ``embedder_id``."""
    if len(embeddings) != len(data):
        raise DatasetError(f"{len(embeddings)} embeddings for {len(data)} prompts")
    chosen = list(models) if models is not None else list(data.models)
    missing = [m for m in chosen if m not in data.models]
    if missing:
        raise DatasetError(f"models not in the data: {', '.join(missing)}")
    cols = [data.models.index(m) for m in chosen]
    scores = data.scores[:, cols]
    for m, n in zip(chosen, np.isfinite(scores).sum(0), strict=True):
        if n == 0:
            raise DatasetError(f"model {m!r} has no scores")
    tokens = [float(estimate_tokens(t)) for t in data.texts]
    info: dict[str, Any] = {"train": config.describe(), "n_prompts": len(data)}
    if config.learner == "auto":
        sub = data if models is None else _columns(data, cols)
        selection = select_learner(sub, np.asarray(embeddings), config)
        info["selection"] = selection
        config = replace(config, learner=str(selection["chosen"]))
    predictor = fit_predictor(embeddings, tokens, scores, chosen, config)
    metrics = {"inner_cv": info["selection"]} if "selection" in info else {}
    return RouterArtifact(
        embedder_id=embedder_id, predictor=predictor, fingerprint=data.fingerprint, metrics=metrics, info=info
    )


def _columns(data: OutcomeMatrix, cols: Sequence[int]) -> OutcomeMatrix:
    return replace(
        data,
        models=tuple(data.models[c] for c in cols),
        scores=data.scores[:, cols],
        costs=data.costs[:, cols],
    )


#: the learner ``auto`` keeps unless another one is clearly better (see :func:`select_learner`)
DEFAULT_LEARNER = "proj"
SELECTION_RULE = "one-standard-error"


def _selection_metric(data: OutcomeMatrix) -> str:
    """The routing metric ``auto`` scores learners by, decided once on all of ``data``."""
    ok = np.isfinite(data.scores).all(axis=1)
    means = data.scores[ok].mean(0) if ok.any() else np.zeros(len(data.models))
    if len(data.models) == 2 and ok.sum() > 10 and int(np.argmax(means)) != int(np.argmin(means)):
        return "apgr"
    if ok.sum() > 10 and np.isfinite(data.costs[ok]).all():
        return "aiq"
    return "neg_brier"


def _selection_score(data: OutcomeMatrix, pred: F64, rows: npt.NDArray[np.intp], metric: str) -> float:
    """``metric`` of the predictions ``pred`` (all prompts) on the prompts ``rows`` (one test fold)."""
    if metric == "neg_brier":
        truth = data.scores[rows]
        judged = np.isfinite(truth)
        return -float(np.mean((pred[rows][judged] - truth[judged]) ** 2))
    ok = np.asarray(np.isfinite(data.scores).all(axis=1), dtype=bool)
    fold = rows[ok[rows]]
    if metric == "apgr":  # the fold's gain over the weak model, per the strong − weak gap of all prompts
        means = data.scores[ok].mean(0)
        s, w = int(np.argmax(means)), int(np.argmin(means))
        scores = data.scores[fold]
        gain = routellm_gain(pred[fold, s] - pred[fold, w], scores[:, s], scores[:, w])
        return gain / float(means[s] - means[w])
    return routerbench_metrics(pred[fold], data.scores[fold], data.costs[fold], data.models).aiq


def select_learner(
    data: OutcomeMatrix, embeddings: F64 | F32, config: TrainConfig, *, folds: int = 5
) -> dict[str, Any]:
    """Cross-validate every learner on ``data`` and choose one by the one-standard-error rule.

    Every learner is scored on each of ``folds`` test folds with the routing metric the router will be
    judged by. ``proj`` (:data:`DEFAULT_LEARNER`) is kept unless another learner beats it by more than
    one standard error of their paired per-fold differences (candidate − proj on the same folds; SE =
    sd / √folds); among those that do, the one with the best mean score wins. With many prompts the
    differences are precise and the best learner wins; with a few hundred they are noisy and the
    default stays, instead of a coin flip between learners whose scores the data cannot tell apart
    (Breiman et al. 1984; Hastie, Tibshirani & Friedman, ESL §7.10).

    Five folds rather than three: each inner model then sees 80 % of the training data, close to what
    the final one sees."""
    if len(data) < 2 * folds:
        return {
            "chosen": DEFAULT_LEARNER,
            "rule": SELECTION_RULE,
            "reason": "too few prompts to cross-validate",
        }
    tokens = [float(estimate_tokens(t)) for t in data.texts]
    splits = kfold_indices(len(data), folds, seed=0)
    preds = {name: np.full(data.scores.shape, np.nan) for name in ("knn", "linear", "proj")}
    for train, test in splits:
        for name in preds:
            p = fit_predictor(
                embeddings[train], [tokens[i] for i in train], data.scores[train], data.models,
                replace(config, learner=name),
            )  # fmt: skip
            preds[name][test] = p.predict_batch(embeddings[test], [tokens[i] for i in test])
    for pair, (a, b) in PAIRS.items():
        preds[pair] = (preds[a] + preds[b]) / 2
    metric = _selection_metric(data)
    complete = np.asarray(np.isfinite(data.scores).all(axis=1), dtype=bool)
    if metric != "neg_brier" and min(int(complete[test].sum()) for _, test in splits) < 2:
        metric = "neg_brier"  # a fold without fully judged prompts cannot be scored by APGR/AIQ
    per_fold = {
        name: np.array([_selection_score(data, p, test, metric) for _, test in splits])
        for name, p in preds.items()
    }
    base = per_fold[DEFAULT_LEARNER]
    diffs: dict[str, dict[str, float]] = {}
    winners = []
    for name, fold_scores in per_fold.items():
        if name == DEFAULT_LEARNER:
            continue
        d = fold_scores - base
        mean, se = float(d.mean()), float(d.std(ddof=1) / np.sqrt(len(d)))
        diffs[name] = {"mean": round(mean, 6), "se": round(se, 6)}
        if mean > se:
            winners.append(name)
    chosen = max(winners, key=lambda n: float(per_fold[n].mean())) if winners else DEFAULT_LEARNER
    return {
        "chosen": chosen,
        "rule": SELECTION_RULE,
        "default": DEFAULT_LEARNER,
        "metric": metric,
        "folds": folds,
        "scores": {n: round(float(v.mean()), 6) for n, v in per_fold.items()},
        "diff_vs_default": diffs,
    }


def add_model(
    artifact: RouterArtifact,
    model: str,
    embeddings: npt.NDArray[np.floating],
    texts: Sequence[str],
    scores: Sequence[float],
    config: TrainConfig | None = None,
) -> RouterArtifact:
    """A copy of ``artifact`` that also scores ``model``, fitted on ≥ 50 judged prompts; others unchanged."""
    if model in artifact.models:
        raise DatasetError(f"the router already scores {model!r}")
    y = np.asarray(scores, dtype=np.float64)
    judged = np.isfinite(y)
    if int(judged.sum()) < MIN_ADD_MODEL_PROMPTS:
        raise DatasetError(
            f"adding a model needs at least {MIN_ADD_MODEL_PROMPTS} judged prompts, got {judged.sum()}"
        )
    emb = np.asarray(embeddings)[judged]
    tokens = [float(estimate_tokens(t)) for t, ok in zip(texts, judged, strict=True) if ok]
    y = y[judged]
    base = dict(artifact.info.get("train", {}))
    cfg = config or TrainConfig(
        learner="ensemble",
        k=int(base.get("k", 100)),
        alpha=float(base.get("alpha", 5.0)),
        l2=float(base.get("l2", 10)),
    )
    bank = KNNBank(np.ascontiguousarray(emb, dtype=np.float32), (model,), y[:, None])
    x = _design(emb, tokens)
    head = fit_logistic(x, y, cfg.l2)

    def extend(p: Predictor) -> Predictor:
        if isinstance(p, KNNPredictor):
            return p.with_bank(bank)
        if isinstance(p, LinearPredictor):
            return p.with_head(model, head)
        if isinstance(p, ProjectedPredictor):  # the new model's prompts, through the unchanged projection
            return p.with_bank(ProjectedBank(x @ p.projection, (model,), y[:, None]))
        return EnsemblePredictor(tuple(extend(m) for m in p.members))  # type: ignore[misc]

    added = dict(artifact.info.get("added_models", {}))
    added[model] = {"n_prompts": len(y)}
    return RouterArtifact(
        embedder_id=artifact.embedder_id,
        predictor=extend(artifact.predictor),
        fingerprint=artifact.fingerprint,
        metrics=artifact.metrics,
        calibration=artifact.calibration,
        info={**artifact.info, "added_models": added},
    )
