"""Offline router metrics: RouteLLM's two-model metrics and RouterBench's N-model metrics.

Two models (as ``routellm/evals/evaluate.py`` + ``benchmarks.py`` compute them, commit 0d78f12):
the router scores each prompt (here: predicted strong − weak quality); thresholds are the 11 quantile
edges of those scores (``pd.qcut(scores, 10, retbins=True)``: linear-interpolated deciles, duplicates
kept); for every edge but the last, prompts with score ≥ edge go to the strong model, for the last edge
those with score > edge (so 0 %). Each point is (strong-call share, mean score of the chosen answers).
Points are sorted by share; AUC = trapezoid of quality over share; APGR = (AUC − weak·span) /
((strong − weak)·span); CPT(x) = ``np.interp(weak + x·(strong − weak), qualities, shares)``. The random
router draws uniform scores (mean of 10 seeded draws); the oracle follows ``get_optimal_accuracy``
at 0, 10, …, 100 %.

N models (RouterBench): sweep λ in ``argmax_m predicted[m] − λ·cost[m]`` (λ = 0 … large), each λ a
(mean cost, mean quality) point; the non-decreasing upper convex hull of the points; AIQ = area under
the hull extended flat to the largest cost, over the shared cost range [lowest, highest cost], divided
by that range (``evaluation/AIQ.py``: RouterBench's code integrates from each hull's first point and
divides by the largest cost — identical when the cheapest point costs ~0). The Zero router is the hull of
the single models; the oracle picks each prompt's best (then cheapest) model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from switchman.errors import DatasetError

__all__ = [
    "NModelReport",
    "RouteLLMReport",
    "aiq",
    "kfold_indices",
    "lambda_sweep",
    "nondecreasing_hull",
    "routellm_gain",
    "routellm_metrics",
    "routellm_oracle_points",
    "routerbench_metrics",
]

F64 = npt.NDArray[np.float64]
Point = tuple[float, float]  # (x, y): (strong share | cost, quality)
BUDGET_FRACTIONS = (0.1, 0.25, 0.5)


# --- RouteLLM --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RouteLLMReport:
    strong: str
    weak: str
    points: tuple[Point, ...]  # (strong share 0..1, quality), sorted by share
    weak_quality: float
    strong_quality: float
    auc: float
    apgr: float
    cpt: dict[str, float]  # "20%"/"50%"/"80%" -> strong share needed (0..1)
    random_apgr: float
    oracle_apgr: float
    oracle_points: tuple[Point, ...] = field(default=())


def _routellm_points(win: F64, strong: F64, weak: F64, num_results: int) -> list[Point]:
    edges = np.quantile(win, np.linspace(0.0, 1.0, num_results + 1))
    points = []
    for i, t in enumerate(edges):
        sel = win >= t if i != len(edges) - 1 else win > t
        points.append((float(sel.mean()), float(np.where(sel, strong, weak).mean())))
    points.sort(key=lambda p: p[0])
    return points


def _apgr(points: Sequence[Point], weak_q: float, strong_q: float) -> tuple[float, float]:
    xs = np.array([p[0] for p in points])
    ys = np.array([p[1] for p in points])
    auc = float(np.trapezoid(ys, xs))
    weak_auc = float(np.trapezoid(np.full(len(xs), weak_q), xs))
    strong_auc = float(np.trapezoid(np.full(len(xs), strong_q), xs))
    return auc, (auc - weak_auc) / (strong_auc - weak_auc)


def routellm_oracle_points(strong: F64, weak: F64) -> list[Point]:
    """RouteLLM's optimal router: the strong model on the prompts where it gains most, 0..100 % in 10s."""
    gain = np.sort(strong - weak)[::-1]
    gain = gain[gain > 0]
    n = len(strong)
    points = []
    for pct in range(0, 101, 10):
        calls = min(int(n * pct / 100), len(gain))
        points.append((pct / 100, float((weak.sum() + gain[:calls].sum()) / n)))
    return points


def routellm_gain(win: F64, strong_scores: F64, weak_scores: F64, *, num_results: int = 10) -> float:
    """APGR's numerator per unit of strong-call share: (AUC − weak · span) / span of RouteLLM's curve.

    Dividing it by a strong − weak gap gives the APGR; unlike :func:`routellm_metrics` it is defined
    when the two models tie on these prompts (a small cross-validation fold), so it can be divided by
    the gap measured on more prompts."""
    if len(win) != len(strong_scores) or len(win) != len(weak_scores) or len(win) == 0:
        raise DatasetError("win, strong and weak scores must be non-empty and the same length")
    points = _routellm_points(win, strong_scores, weak_scores, num_results)
    xs = np.array([p[0] for p in points])
    span = float(xs[-1] - xs[0])
    if span <= 0:
        return 0.0
    auc = float(np.trapezoid(np.array([p[1] for p in points]), xs))
    return (auc - float(weak_scores.mean()) * span) / span


def routellm_metrics(
    win: F64,
    strong_scores: F64,
    weak_scores: F64,
    *,
    strong: str = "strong",
    weak: str = "weak",
    num_results: int = 10,
    seed: int = 0,
) -> RouteLLMReport:
    """RouteLLM's threshold curve, APGR and CPT for router scores ``win`` (higher = more strong-worthy)."""
    if len(win) != len(strong_scores) or len(win) != len(weak_scores) or len(win) == 0:
        raise DatasetError("win, strong and weak scores must be non-empty and the same length")
    weak_q, strong_q = float(weak_scores.mean()), float(strong_scores.mean())
    if strong_q == weak_q:
        raise DatasetError("strong and weak models have the same mean score; PGR is undefined")
    points = _routellm_points(win, strong_scores, weak_scores, num_results)
    auc, apgr = _apgr(points, weak_q, strong_q)
    ys = [p[1] for p in points]
    xs = [p[0] for p in points]
    cpt = {
        f"{int(f * 100)}%": float(np.interp(weak_q + f * (strong_q - weak_q), ys, xs))
        for f in (0.2, 0.5, 0.8)
    }
    rng = np.random.default_rng(seed)
    random_apgr = float(
        np.mean(
            [
                _apgr(
                    _routellm_points(rng.uniform(size=len(win)), strong_scores, weak_scores, num_results),
                    weak_q,
                    strong_q,
                )[1]
                for _ in range(10)
            ]
        )
    )
    oracle = routellm_oracle_points(strong_scores, weak_scores)
    return RouteLLMReport(
        strong=strong,
        weak=weak,
        points=tuple(points),
        weak_quality=weak_q,
        strong_quality=strong_q,
        auc=auc,
        apgr=apgr,
        cpt=cpt,
        random_apgr=random_apgr,
        oracle_apgr=_apgr(oracle, weak_q, strong_q)[1],
        oracle_points=tuple(oracle),
    )


# --- RouterBench -----------------------------------------------------------------------------------


def nondecreasing_hull(points: Sequence[Point]) -> list[Point]:
    """Upper convex hull of (cost, quality) points from the cheapest point, cut where quality stops rising."""
    if not points:
        return []
    best: dict[float, float] = {}
    for x, y in points:
        best[x] = max(y, best.get(x, -np.inf))
    pts = sorted(best.items())
    hull: list[Point] = []
    for p in pts:
        while len(hull) >= 2:
            (x1, y1), (x2, y2) = hull[-2], hull[-1]
            if (x2 - x1) * (p[1] - y1) - (y2 - y1) * (p[0] - x1) >= 0:  # hull[-1] is on/below the chord
                hull.pop()
            else:
                break
        hull.append(p)
    top = int(np.argmax([y for _, y in hull]))
    return hull[: top + 1]


def aiq(hull: Sequence[Point], lo: float, hi: float) -> float:
    """Average quality under ``hull`` (extended flat to ``hi``; zero before its first point) on [lo, hi]."""
    if hi <= lo or not hull:
        return float(hull[-1][1]) if hull else 0.0
    pts = [p for p in hull if p[0] <= hi]
    if pts[-1][0] < hi:
        pts.append((hi, pts[-1][1]))
    xs = np.array([p[0] for p in pts])
    ys = np.array([p[1] for p in pts])
    return float(np.trapezoid(ys, xs) / (hi - lo))


def lambda_sweep(
    predicted: F64, scores: F64, costs: F64, lambdas: Sequence[float] | None = None
) -> list[Point]:
    """(mean cost, mean quality) of ``argmax(predicted − λ·cost)`` for each λ."""
    if lambdas is None:
        scale = float(np.mean(np.max(costs, axis=1))) or 1.0
        lambdas = [0.0, *(np.logspace(-3, 3, 80) / scale).tolist()]
    rows = np.arange(len(scores))
    points = []
    for lam in lambdas:
        choice = np.argmax(predicted - lam * costs, axis=1)
        points.append((float(costs[rows, choice].mean()), float(scores[rows, choice].mean())))
    return points


@dataclass(frozen=True)
class NModelReport:
    models: tuple[str, ...]
    points: tuple[Point, ...]
    hull: tuple[Point, ...]
    aiq: float
    zero_hull: tuple[Point, ...]
    zero_aiq: float
    singles: dict[str, Point]  # model -> (mean cost, mean quality)
    best_single: str
    oracle: Point
    quality_at_budget: dict[str, dict[str, float]]  # "50%" -> {"budget", "router", "zero", "best_single"}


def _best_under(points: Sequence[Point], budget: float) -> float:
    ok = [y for x, y in points if x <= budget * (1 + 1e-9)]
    return max(ok) if ok else float("nan")


def routerbench_metrics(predicted: F64, scores: F64, costs: F64, models: Sequence[str]) -> NModelReport:
    """RouterBench-style metrics for per-prompt predictions over ``models`` (all arrays (n, m), no NaN)."""
    if not (np.isfinite(scores).all() and np.isfinite(costs).all()):
        raise DatasetError("N-model evaluation needs a score and a cost for every (prompt, model)")
    points = lambda_sweep(predicted, scores, costs)
    hull = nondecreasing_hull(points)
    singles = {m: (float(costs[:, j].mean()), float(scores[:, j].mean())) for j, m in enumerate(models)}
    zero_hull = nondecreasing_hull(list(singles.values()))
    lo = min(min(x for x, _ in points), min(x for x, _ in singles.values()))
    hi = max(max(x for x, _ in points), max(x for x, _ in singles.values()))
    best_single = max(singles, key=lambda m: (singles[m][1], -singles[m][0]))
    top = scores.max(axis=1, keepdims=True)
    oracle_choice = np.argmin(np.where(scores >= top, costs, np.inf), axis=1)
    rows = np.arange(len(scores))
    oracle = (float(costs[rows, oracle_choice].mean()), float(scores[rows, oracle_choice].mean()))
    at_budget = {}
    for frac in BUDGET_FRACTIONS:
        budget = frac * singles[best_single][0]
        at_budget[f"{int(frac * 100)}%"] = {
            "budget": budget,
            "router": _best_under(points, budget),
            "zero": _best_under(list(singles.values()), budget),
            "best_single": singles[best_single][1],
        }
    return NModelReport(
        models=tuple(models),
        points=tuple(points),
        hull=tuple(hull),
        aiq=aiq(hull, lo, hi),
        zero_hull=tuple(zero_hull),
        zero_aiq=aiq(zero_hull, lo, hi),
        singles=singles,
        best_single=best_single,
        oracle=oracle,
        quality_at_budget=at_budget,
    )


# --- cross-validation ------------------------------------------------------------------------------


def kfold_indices(
    n: int, k: int = 5, *, seed: int = 0
) -> list[tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]]:
    """``k`` shuffled (train, test) index splits of ``range(n)``."""
    if k < 2 or k > n:
        raise DatasetError(f"k-fold needs 2 <= k <= n (k={k}, n={n})")
    perm = np.random.default_rng(seed).permutation(n)
    folds = np.array_split(perm, k)
    return [(np.sort(np.concatenate(folds[:i] + folds[i + 1 :])), np.sort(folds[i])) for i in range(k)]


def cross_val_predict(
    n: int,
    fit_predict: Callable[[npt.NDArray[np.intp], npt.NDArray[np.intp]], F64],
    *,
    k: int = 5,
    seed: int = 0,
    on_fold: Callable[[int], None] | None = None,
) -> F64:
    """Out-of-fold predictions: ``fit_predict(train_idx, test_idx) -> (len(test), m)`` for each fold."""
    out: F64 | None = None
    for i, (train, test) in enumerate(kfold_indices(n, k, seed=seed)):
        pred = fit_predict(train, test)
        if out is None:
            out = np.full((n, pred.shape[1]), np.nan)
        out[test] = pred
        if on_fold is not None:
            on_fold(i)
    assert out is not None
    return out
