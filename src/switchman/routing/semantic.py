"""Semantic routes: example utterances per route, matched by cosine similarity of embeddings.

A :class:`SemanticIndex` embeds every route's examples once (when the policy is built) and, per request,
scores the request's embedding against them: a route's similarity is the maximum over its examples.
The most similar route whose similarity clears its own threshold wins.

:func:`fit_thresholds` tunes the per-route thresholds from labelled examples (text → route name or
none): for each route, the threshold that maximises F1 of "this route is the best match and clears the
threshold" on the examples.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from switchman.config.routing import SemanticRouteConfig
from switchman.errors import DatasetError
from switchman.routing.embed import Embedder
from switchman.routing.rounding import round4
from switchman.values import value

__all__ = ["RouteFit", "RouteMatch", "SemanticIndex", "fit_thresholds"]

FloatArray = npt.NDArray[np.float32]


@value
class RouteMatch:
    """The outcome of matching one request: the winning route (if any) and every route's similarity."""

    route: SemanticRouteConfig | None
    similarity: float
    scores: tuple[tuple[str, float], ...]  # (route name, similarity), in config order


class SemanticIndex:
    """Every route's example embeddings stacked in one matrix (one matrix-vector product per request)."""

    def __init__(self, routes: Sequence[SemanticRouteConfig], embedder: Embedder) -> None:
        self.routes = list(routes)
        self.embedder_id = embedder.model_id
        texts = [ex for r in self.routes for ex in r.examples]
        # each route's examples are contiguous rows: one segmented max per request (np.maximum.at, the
        # general scatter, costs ~10 us); routes without examples keep -1
        self._with_examples = np.array([i for i, r in enumerate(self.routes) if r.examples], dtype=np.int64)
        sizes = [len(r.examples) for r in self.routes if r.examples]
        self._starts = np.cumsum([0, *sizes[:-1]])
        self._matrix: FloatArray = (
            embedder.embed(texts) if texts else np.zeros((0, embedder.dim), dtype=np.float32)
        )
        self._names = tuple(r.name for r in self.routes)
        #: The configured thresholds as float32 values: numpy compares a float32 similarity with a
        #: Python float in float32 (NEP 50), so matching on Python floats compares with these.
        self._limits = _as_float32([r.threshold for r in self.routes])

    def __bool__(self) -> bool:
        return bool(self.routes)

    def similarities(self, embedding: FloatArray) -> FloatArray:
        """Per-route similarity (max over the route's examples), shape ``(routes,)``."""
        out = np.full(len(self.routes), -1.0, dtype=np.float32)
        if not self.routes:
            return out
        if not len(self._matrix):
            return out
        sims = self._matrix @ embedding.astype(np.float32, copy=False)
        out[self._with_examples] = np.maximum.reduceat(sims, self._starts)
        return out

    def match(self, embedding: FloatArray, thresholds: Sequence[float] | None = None) -> RouteMatch:
        routes = self.routes
        if len(self._with_examples) == len(routes) and len(routes):  # every route has examples
            # Python floats from here on: one conversion instead of a numpy scalar per comparison
            # (np.dot: the same matrix-vector product as ``@`` with a third of its call overhead)
            sims: list[float] = np.maximum.reduceat(
                np.dot(self._matrix, embedding.astype(np.float32, copy=False)), self._starts
            ).tolist()
        else:
            sims = self.similarities(embedding).tolist()
        limits = self._limits if thresholds is None else _as_float32(thresholds)
        best: SemanticRouteConfig | None = None
        best_sim = -1.0
        for r, s, limit in zip(routes, sims, limits, strict=True):
            if s >= limit and s > best_sim:
                best, best_sim = r, s
        scores = tuple([(name, round4(s)) for name, s in zip(self._names, sims, strict=True)])
        return RouteMatch(best, best_sim if best is not None else max(sims, default=-1.0), scores)


def _as_float32(values: Sequence[float]) -> list[float]:
    return np.asarray(values, dtype=np.float32).tolist()  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True)
class RouteFit:
    route: str
    threshold: float
    f1: float
    precision: float
    recall: float
    positives: int


def fit_thresholds(
    index: SemanticIndex, embeddings: FloatArray, labels: Sequence[str | None]
) -> list[RouteFit]:
    """Per-route thresholds maximising F1 on labelled examples (``labels[i]`` = route name or None).

    A threshold is placed midway between neighbouring observed similarities; with no positive
    example the route keeps its configured threshold (reported with f1 = 0, positives = 0).
    """
    if len(labels) != len(embeddings):
        raise DatasetError("embeddings and labels differ in length")
    sims = np.stack([index.similarities(e) for e in embeddings]) if len(labels) else np.zeros((0, 0))
    winner = sims.argmax(axis=1) if len(labels) else np.zeros(0, dtype=np.int64)
    fits = []
    for j, route in enumerate(index.routes):
        truth = np.array([lab == route.name for lab in labels], dtype=bool)
        if not truth.any():
            fits.append(RouteFit(route.name, route.threshold, 0.0, 0.0, 0.0, 0))
            continue
        col = sims[:, j].astype(np.float64)
        top = winner == j
        values = np.unique(col)
        cuts = np.concatenate([[values[0] - 1e-3], (values[:-1] + values[1:]) / 2, [values[-1] + 1e-3]])
        best = (-1.0, 0.0, 0.0, float(route.threshold))
        for cut in cuts:
            pred = top & (col >= cut)
            tp = int((pred & truth).sum())
            precision = tp / max(int(pred.sum()), 1)
            recall = tp / int(truth.sum())
            f1 = 2 * precision * recall / (precision + recall) if tp else 0.0
            # ties: prefer the higher threshold (fewer false matches on unseen traffic)
            if f1 > best[0] or (f1 == best[0] and cut > best[3]):
                best = (f1, precision, recall, float(cut))
        f1, precision, recall, cut = best
        fits.append(
            RouteFit(
                route.name,
                round(cut, 4),
                round(f1, 4),
                round(precision, 4),
                round(recall, 4),
                int(truth.sum()),
            )
        )
    return fits
