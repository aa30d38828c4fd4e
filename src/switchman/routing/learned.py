"""Learned quality prediction at decision time, and the router artifact it is loaded from.

The routing engine's scoring step calls one method, pure CPU, no I/O::

    predictor: QualityPredictor = load_router(path, embedder_id=embedder.model_id).predictor
    q = predictor.predict(embedding, features)   # -> {model: predicted quality in [0, 1]}

``embedding`` is the request's ``(dim,)`` float32 L2-normalised vector from the embedder whose
``model_id`` equals ``predictor.embedder_id`` (the engine computes one embedding per request and shares
it). ``features`` are the request analysis values; the predictors use ``prompt_tokens`` when present and
ignore the rest, so missing keys are fine. ``predictor.models`` lists the models it scores; a model of the
catalog that the router does not know gets no prediction (the engine decides what that means).

The router's operating point lives in ``artifact.calibration`` (written by ``switchman calibrate``):
``{"kind": "strong_share"|"quality"|"budget_usd_per_1k", "value": …, "lambda": λ, "target": t, …}`` —
the ``utility`` policy picks ``argmax_m q[m] − λ·expected_cost_usd[m]`` (USD per request); the
``threshold`` policy picks the cheapest model with ``q[m] ≥ t``. Both knobs meet the same goal.

Predictors (all numpy):

``KNNPredictor``     mean score of each model over the ``k`` most similar training prompts (cosine),
                     weighted by ``exp((sim − best_sim)/tau)`` and shrunk towards the model's overall
                     mean by ``alpha`` pseudo-neighbours. Stored as
                     banks of (embeddings, scores); ``add_model`` appends a bank, so others are untouched.
``LinearPredictor``  one logistic head per model over ``[embedding, log1p(prompt_tokens)/10, 1]``.
``ProjectedPredictor`` kernel regression in a learned projection: the prompt's features
                     ``[embedding, log1p(prompt_tokens)/10, 1]`` are mapped by one shared ridge projection
                     (fitted on all models at once: column j predicts model j's centred score) to a small
                     space where distance means "the models do alike here"; each model's quality is the
                     ``exp(−d²/h)``-weighted mean of the training prompts there, shrunk towards its
                     overall mean by ``alpha`` pseudo-prompts, averaged over a few widths ``h``. Stored as
                     the projection plus banks of (projected points, scores); ``add_model`` appends a
                     bank and keeps the projection.
``EnsemblePredictor`` the mean of its members' predictions.

Artifact layout (a directory, no pickle): ``manifest.json`` (format, embedder id, models, learner
description, training fingerprint, metrics, calibration) and ``weights.npz`` (plain float arrays).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt
import orjson

from switchman.errors import RouterArtifactError

__all__ = [
    "ARTIFACT_FORMAT",
    "EnsemblePredictor",
    "KNNPredictor",
    "LinearPredictor",
    "ProjectedBank",
    "ProjectedPredictor",
    "QualityPredictor",
    "RouterArtifact",
    "design_matrix",
    "feature_vector",
    "load_router",
    "save_router",
]

ARTIFACT_FORMAT = "switchman-router/1"
F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]


@runtime_checkable
class QualityPredictor(Protocol):
    """Predicted quality in [0, 1] of each known model for one request. Pure CPU; no I/O."""

    @property
    def models(self) -> tuple[str, ...]: ...

    def predict(
        self, embedding: npt.NDArray[np.floating], features: Mapping[str, float]
    ) -> dict[str, float]: ...

    def predict_batch(self, embeddings: npt.NDArray[np.floating], prompt_tokens: Sequence[float]) -> F64: ...


def feature_vector(prompt_tokens: float) -> F64:
    """The non-embedding inputs of the parametric heads (kept tiny and scale-free)."""
    return np.array([math.log1p(max(0.0, prompt_tokens)) / 10.0], dtype=np.float64)


def _tokens(features: Mapping[str, float]) -> float:
    return float(features.get("prompt_tokens", 0.0))


# --- kNN -------------------------------------------------------------------------------------------


def _set_score_stats(bank: object, scores: F64) -> None:
    """A bank's derived score arrays: ``_judged`` (1 where scored), ``_vals`` (NaN → 0), ``_prior``
    (each model's mean score over the prompts it was judged on)."""
    judged = np.isfinite(scores)
    vals = np.where(judged, scores, 0.0)
    object.__setattr__(bank, "_judged", judged.astype(np.float64))
    object.__setattr__(bank, "_vals", vals)
    object.__setattr__(bank, "_prior", vals.sum(0) / np.maximum(judged.sum(0), 1))


@dataclass(frozen=True)
class KNNBank:
    """Training prompts that share one set of judged models."""

    embeddings: F32  # (n, dim), L2-normalised
    models: tuple[str, ...]
    scores: F64  # (n, len(models)), NaN = not judged
    _judged: F64 = field(init=False, repr=False, compare=False)
    _vals: F64 = field(init=False, repr=False, compare=False)
    _prior: F64 = field(init=False, repr=False, compare=False)
    _emb_t: F32 = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # derived once, so a request only pays for the similarity scan and the top-k
        _set_score_stats(self, self.scores)
        object.__setattr__(
            self, "_emb_t", np.ascontiguousarray(self.embeddings.T)
        )  # (dim, n): ~5x faster scan

    def predict(self, q: F32, k: int, alpha: float, tau: float) -> F64:
        """(b, len(models)) shrunk, similarity-weighted neighbour means for query rows ``q`` (b, dim)."""
        sims = q @ self._emb_t
        kk = min(k, sims.shape[1])
        idx = np.argpartition(sims, sims.shape[1] - kk, axis=1)[:, -kk:]
        near = np.take_along_axis(sims, idx, axis=1).astype(np.float64)
        weight = np.exp((near - near.max(axis=1, keepdims=True)) / tau)  # nearest = 1
        total = np.einsum("bk,bkm->bm", weight, self._vals[idx])
        count = np.einsum("bk,bkm->bm", weight, self._judged[idx])
        out: F64 = (total + alpha * self._prior) / (count + alpha)
        return out


@dataclass(frozen=True)
class KNNPredictor:
    banks: tuple[KNNBank, ...]
    k: int = 100
    alpha: float = 1.0
    tau: float = 0.1

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(m for b in self.banks for m in b.models)

    def predict_batch(self, embeddings: npt.NDArray[np.floating], prompt_tokens: Sequence[float]) -> F64:
        q = np.atleast_2d(np.asarray(embeddings, dtype=np.float32))
        return np.hstack([b.predict(q, self.k, self.alpha, self.tau) for b in self.banks])

    def predict(self, embedding: npt.NDArray[np.floating], features: Mapping[str, float]) -> dict[str, float]:
        row = self.predict_batch(embedding[None, :], [_tokens(features)])[0]
        return dict(zip(self.models, row.tolist(), strict=True))

    def with_bank(self, bank: KNNBank) -> KNNPredictor:
        return KNNPredictor(banks=(*self.banks, bank), k=self.k, alpha=self.alpha, tau=self.tau)


# --- linear heads ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LinearPredictor:
    model_names: tuple[str, ...]
    weights: F64  # (len(models), dim + n_features + 1); last column is the bias

    @property
    def models(self) -> tuple[str, ...]:
        return self.model_names

    def predict_batch(self, embeddings: npt.NDArray[np.floating], prompt_tokens: Sequence[float]) -> F64:
        xb = design_matrix(embeddings, prompt_tokens)
        out: F64 = 1.0 / (1.0 + np.exp(-(xb @ self.weights.T)))
        return out

    def predict(self, embedding: npt.NDArray[np.floating], features: Mapping[str, float]) -> dict[str, float]:
        row = self.predict_batch(embedding[None, :], [_tokens(features)])[0]
        return dict(zip(self.model_names, row.tolist(), strict=True))

    def with_head(self, model: str, head: F64) -> LinearPredictor:
        return LinearPredictor((*self.model_names, model), np.vstack([self.weights, head[None, :]]))


# --- kernel regression in a learned projection ------------------------------------------------------


def design_matrix(embeddings: npt.NDArray[np.floating], prompt_tokens: Sequence[float]) -> F64:
    """``[embedding, feature_vector(tokens), 1]`` rows: the input of the linear heads and the projection."""
    x = np.atleast_2d(np.asarray(embeddings, dtype=np.float64))
    extra = np.stack([feature_vector(t) for t in prompt_tokens]) if len(prompt_tokens) else np.zeros((0, 1))
    return np.hstack([x, extra, np.ones((len(x), 1))])


@dataclass(frozen=True)
class ProjectedBank:
    """Training prompts (already projected) that share one set of judged models."""

    points: F64  # (n, rank)
    models: tuple[str, ...]
    scores: F64  # (n, len(models)), NaN = not judged
    _judged: F64 = field(init=False, repr=False, compare=False)
    _vals: F64 = field(init=False, repr=False, compare=False)
    _prior: F64 = field(init=False, repr=False, compare=False)
    _pts_t: F64 = field(init=False, repr=False, compare=False)
    _sq: F64 = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _set_score_stats(self, self.scores)
        object.__setattr__(self, "_pts_t", np.ascontiguousarray(self.points.T))
        object.__setattr__(self, "_sq", (self.points**2).sum(1))

    def predict(self, z: F64, bandwidths: Sequence[float], alpha: float) -> F64:
        """(b, len(models)) kernel-weighted, shrunk score means for projected query rows ``z`` (b, rank),
        averaged over the kernel widths ``bandwidths``."""
        d2 = (z**2).sum(1)[:, None] - 2.0 * (z @ self._pts_t) + self._sq[None, :]
        d2 -= d2.min(axis=1, keepdims=True)  # the nearest prompt gets weight 1 at every width
        out: F64 = np.zeros((len(z), len(self.models)))
        for h in bandwidths:
            weight = np.exp(-d2 / h)
            out += (weight @ self._vals + alpha * self._prior) / (weight @ self._judged + alpha)
        out /= len(bandwidths)
        return out


@dataclass(frozen=True)
class ProjectedPredictor:
    projection: F64  # (dim + n_features + 1, rank)
    banks: tuple[ProjectedBank, ...]
    bandwidths: tuple[float, ...]  # absolute, in squared projected units
    alpha: float = 1.0

    #: query rows scored at once by ``predict_batch`` (bounds the (rows, n) distance matrix)
    CHUNK = 512

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(m for b in self.banks for m in b.models)

    def project(self, embeddings: npt.NDArray[np.floating], prompt_tokens: Sequence[float]) -> F64:
        out: F64 = design_matrix(embeddings, prompt_tokens) @ self.projection
        return out

    def predict_batch(self, embeddings: npt.NDArray[np.floating], prompt_tokens: Sequence[float]) -> F64:
        z = self.project(embeddings, prompt_tokens)
        parts = [
            np.hstack([b.predict(z[i : i + self.CHUNK], self.bandwidths, self.alpha) for b in self.banks])
            for i in range(0, len(z), self.CHUNK)
        ]
        out: F64 = np.vstack(parts) if parts else np.zeros((0, len(self.models)))
        return out

    def predict(self, embedding: npt.NDArray[np.floating], features: Mapping[str, float]) -> dict[str, float]:
        row = self.predict_batch(embedding[None, :], [_tokens(features)])[0]
        return dict(zip(self.models, row.tolist(), strict=True))

    def with_bank(self, bank: ProjectedBank) -> ProjectedPredictor:
        return ProjectedPredictor(self.projection, (*self.banks, bank), self.bandwidths, self.alpha)


# --- ensemble --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EnsemblePredictor:
    members: tuple[KNNPredictor | LinearPredictor | ProjectedPredictor, ...]

    @property
    def models(self) -> tuple[str, ...]:
        return self.members[0].models

    def predict_batch(self, embeddings: npt.NDArray[np.floating], prompt_tokens: Sequence[float]) -> F64:
        order = self.models
        preds = []
        for m in self.members:
            p = m.predict_batch(embeddings, prompt_tokens)
            cols = [m.models.index(name) for name in order]
            preds.append(p[:, cols])
        out: F64 = np.mean(preds, axis=0)
        return out

    def predict(self, embedding: npt.NDArray[np.floating], features: Mapping[str, float]) -> dict[str, float]:
        row = self.predict_batch(embedding[None, :], [_tokens(features)])[0]
        return dict(zip(self.models, row.tolist(), strict=True))


Predictor = KNNPredictor | LinearPredictor | ProjectedPredictor | EnsemblePredictor


# --- artifact --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RouterArtifact:
    """A trained router: the predictor plus everything needed to trust and operate it."""

    embedder_id: str
    predictor: Predictor
    fingerprint: str = ""
    metrics: Mapping[str, Any] = field(default_factory=dict)
    calibration: Mapping[str, Any] = field(default_factory=dict)
    info: Mapping[str, Any] = field(default_factory=dict)

    @property
    def models(self) -> tuple[str, ...]:
        return self.predictor.models


def _encode(p: Predictor, prefix: str, arrays: dict[str, npt.NDArray[Any]]) -> dict[str, Any]:
    if isinstance(p, KNNPredictor):
        banks = []
        for i, b in enumerate(p.banks):
            arrays[f"{prefix}bank{i}.embeddings"] = b.embeddings
            arrays[f"{prefix}bank{i}.scores"] = b.scores
            banks.append({"models": list(b.models)})
        return {"kind": "knn", "k": p.k, "alpha": p.alpha, "tau": p.tau, "banks": banks}
    if isinstance(p, LinearPredictor):
        arrays[f"{prefix}weights"] = p.weights
        return {"kind": "linear", "models": list(p.model_names)}
    if isinstance(p, ProjectedPredictor):
        arrays[f"{prefix}projection"] = p.projection
        pbanks = []
        for i, pb in enumerate(p.banks):
            arrays[f"{prefix}bank{i}.points"] = pb.points
            arrays[f"{prefix}bank{i}.scores"] = pb.scores
            pbanks.append({"models": list(pb.models)})
        return {"kind": "proj", "bandwidths": list(p.bandwidths), "alpha": p.alpha, "banks": pbanks}
    members = [_encode(m, f"{prefix}m{i}.", arrays) for i, m in enumerate(p.members)]
    return {"kind": "ensemble", "members": members}


def _decode(spec: Mapping[str, Any], prefix: str, arrays: Mapping[str, npt.NDArray[Any]]) -> Predictor:
    kind = spec.get("kind")
    if kind == "knn":
        banks = tuple(
            KNNBank(
                embeddings=np.asarray(arrays[f"{prefix}bank{i}.embeddings"], dtype=np.float32),
                models=tuple(b["models"]),
                scores=np.asarray(arrays[f"{prefix}bank{i}.scores"], dtype=np.float64),
            )
            for i, b in enumerate(spec["banks"])
        )
        return KNNPredictor(
            banks, k=int(spec["k"]), alpha=float(spec["alpha"]), tau=float(spec.get("tau", 0.1))
        )
    if kind == "linear":
        return LinearPredictor(
            tuple(spec["models"]), np.asarray(arrays[f"{prefix}weights"], dtype=np.float64)
        )
    if kind == "proj":
        pbanks = tuple(
            ProjectedBank(
                points=np.asarray(arrays[f"{prefix}bank{i}.points"], dtype=np.float64),
                models=tuple(b["models"]),
                scores=np.asarray(arrays[f"{prefix}bank{i}.scores"], dtype=np.float64),
            )
            for i, b in enumerate(spec["banks"])
        )
        return ProjectedPredictor(
            np.asarray(arrays[f"{prefix}projection"], dtype=np.float64),
            pbanks,
            bandwidths=tuple(float(h) for h in spec["bandwidths"]),
            alpha=float(spec["alpha"]),
        )
    if kind == "ensemble":
        members = tuple(_decode(m, f"{prefix}m{i}.", arrays) for i, m in enumerate(spec["members"]))
        if any(isinstance(m, EnsemblePredictor) for m in members):
            raise RouterArtifactError("nested ensembles are not supported")
        return EnsemblePredictor(members)  # type: ignore[arg-type]
    raise RouterArtifactError(f"unknown predictor kind {kind!r}")


def save_router(path: Path | str, artifact: RouterArtifact) -> Path:
    """Write ``artifact`` as a directory (created if needed); returns the directory."""
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, npt.NDArray[Any]] = {}
    manifest = {
        "format": ARTIFACT_FORMAT,
        "embedder": artifact.embedder_id,
        "models": list(artifact.models),
        "predictor": _encode(artifact.predictor, "", arrays),
        "training_fingerprint": artifact.fingerprint,
        "metrics": dict(artifact.metrics),
        "calibration": dict(artifact.calibration),
        "info": dict(artifact.info),
    }
    tmp = out / "weights.tmp.npz"
    np.savez(tmp, **arrays)  # type: ignore[arg-type]
    tmp.replace(out / "weights.npz")
    (out / "manifest.json").write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
    return out


def load_router(path: Path | str, *, embedder_id: str | None = None) -> RouterArtifact:
    """Read a router directory; refuses when ``embedder_id`` differs from the one it was trained with."""
    root = Path(path)
    try:
        manifest = orjson.loads((root / "manifest.json").read_bytes())
        with np.load(root / "weights.npz", allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (OSError, ValueError, orjson.JSONDecodeError) as exc:
        raise RouterArtifactError(f"cannot read router artifact {root}: {exc}") from exc
    if manifest.get("format") != ARTIFACT_FORMAT:
        raise RouterArtifactError(f"{root}: unsupported artifact format {manifest.get('format')!r}")
    trained_with = str(manifest.get("embedder", ""))
    if embedder_id is not None and embedder_id != trained_with:
        raise RouterArtifactError(
            f"{root} was trained with embedder {trained_with!r}, not {embedder_id!r}; retrain or switch"
        )
    try:
        predictor = _decode(manifest["predictor"], "", arrays)
    except (KeyError, TypeError, ValueError) as exc:
        raise RouterArtifactError(f"{root}: corrupt predictor description: {exc}") from exc
    return RouterArtifact(
        embedder_id=trained_with,
        predictor=predictor,
        fingerprint=str(manifest.get("training_fingerprint", "")),
        metrics=manifest.get("metrics", {}),
        calibration=manifest.get("calibration", {}),
        info=manifest.get("info", {}),
    )
