"""Calibrate a router's operating point (λ) on the user's own traffic and write it into the artifact.

The gateway's ``utility`` policy routes with ``argmax_m predicted[m] − λ·cost[m]``; its ``threshold``
policy takes the cheapest model whose predicted quality reaches a target. Calibration sets both knobs
(``lambda`` and ``target`` in the artifact) for one of three goals:

``strong_share``      the share of requests sent to the most expensive model(s) — those priced within
                      5 % of the highest mean cost (prompts are enough);
``quality``           the smallest spend whose *predicted* mean quality reaches this fraction of the
                      best single model's predicted mean quality (prompts are enough); with outcome
                      scores present, realised scores are used instead of predictions;
``budget_usd_per_1k`` the best predicted quality whose expected spend per 1,000 requests fits the budget.

Costs per (prompt, model) come from the traffic file when present, else from ``prices`` (USD per 1M
input/output tokens) with estimated input tokens and ``output_tokens`` assumed output tokens.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from switchman.errors import DatasetError
from switchman.learning.outcomes import estimate_tokens
from switchman.routing.learned import RouterArtifact

__all__ = ["TARGETS", "Calibration", "calibrate", "cost_matrix", "with_calibration"]

F64 = npt.NDArray[np.float64]
TARGETS = ("strong_share", "quality", "budget_usd_per_1k")


@dataclass(frozen=True, slots=True)
class Calibration:
    kind: str
    value: float
    lam: float
    strong_share: float  # share of requests on the most expensive model at this λ
    cost_per_1k: float  # expected USD per 1,000 requests
    quality: float  # mean (predicted or realised) quality at this λ
    n_prompts: int
    #: the same target for the ``threshold`` policy (cheapest model predicted ≥ target), and its point
    target: float | None = None
    target_point: tuple[float, float, float] | None = None  # (strong share, USD per 1k, quality)

    def to_json(self) -> dict[str, float | str | int]:
        out: dict[str, float | str | int] = {
            "kind": self.kind,
            "value": self.value,
            "lambda": self.lam,
            "strong_share": self.strong_share,
            "cost_usd_per_1k": self.cost_per_1k,
            "quality": self.quality,
            "n_prompts": self.n_prompts,
        }
        if self.target is not None and self.target_point is not None:
            out["target"] = self.target
            share, cost, quality = self.target_point
            out |= {"target_strong_share": share, "target_cost_usd_per_1k": cost, "target_quality": quality}
        return out


def cost_matrix(
    texts: Sequence[str],
    models: Sequence[str],
    prices: Mapping[str, tuple[float, float]],
    *,
    output_tokens: int = 256,
    known: F64 | None = None,
) -> F64:
    """(n, m) USD per call: ``known`` where finite, else priced from estimated tokens."""
    out = np.full((len(texts), len(models)), np.nan) if known is None else np.array(known, dtype=np.float64)
    tokens = np.array([estimate_tokens(t) for t in texts], dtype=np.float64)
    for j, m in enumerate(models):
        missing = ~np.isfinite(out[:, j])
        if missing.any():
            if m not in prices:
                raise DatasetError(f"no cost for model {m!r}: give its price or costs in the data")
            pin, pout = prices[m]
            out[missing, j] = (tokens[missing] * pin + output_tokens * pout) / 1e6
    return out


def _strong_columns(costs: F64) -> npt.NDArray[np.bool_]:
    """The "strong" models: the most expensive price level (mean cost within 5 % of the highest)."""
    mean = costs.mean(axis=0)
    out: npt.NDArray[np.bool_] = mean >= 0.95 * float(mean.max())
    return out


def _sweep(predicted: F64, quality: F64, costs: F64) -> list[tuple[float, float, float, float]]:
    """(λ, strong share, cost per request, quality) from λ = 0 (best quality) to very large (cheapest)."""
    scale = float(np.mean(np.max(costs, axis=1))) or 1.0
    lambdas = [0.0, *(np.logspace(-4, 4, 161) / scale).tolist()]
    strong = _strong_columns(costs)
    rows = np.arange(len(costs))
    out = []
    for lam in lambdas:
        choice = np.argmax(predicted - lam * costs, axis=1)
        out.append(
            (
                lam,
                float(np.mean(strong[choice])),
                float(costs[rows, choice].mean()),
                float(quality[rows, choice].mean()),
            )
        )
    return out


def _threshold_sweep(predicted: F64, quality: F64, costs: F64) -> list[tuple[float, float, float, float]]:
    """(target, strong share, cost per request, quality) of the threshold rule: the cheapest model whose
    predicted quality reaches the target, else the best predicted one (as the gateway's threshold policy)."""
    targets = np.unique(np.quantile(predicted, np.linspace(0.0, 1.0, 201)))
    strong = _strong_columns(costs)
    rows = np.arange(len(costs))
    fallback = np.argmax(predicted, axis=1)
    out = []
    for t in [*targets.tolist(), float(targets[-1]) + 1e-9]:
        clearing = predicted >= t
        choice = np.where(
            clearing.any(axis=1), np.argmin(np.where(clearing, costs, np.inf), axis=1), fallback
        )
        out.append(
            (
                t,
                float(np.mean(strong[choice])),
                float(costs[rows, choice].mean()),
                float(quality[rows, choice].mean()),
            )
        )
    return out


def _pick(
    sweep: list[tuple[float, float, float, float]], kind: str, value: float, goal: float
) -> tuple[float, ...]:
    """The sweep point meeting the target (rows: knob, strong share, cost per request, quality)."""
    if kind == "strong_share":
        ok = [s for s in sweep if s[1] <= value + 1e-12]
        return max(ok, key=lambda s: (s[1], -s[2])) if ok else min(sweep, key=lambda s: s[1])
    if kind == "budget_usd_per_1k":
        ok = [s for s in sweep if s[2] * 1000 <= value + 1e-12]
        return max(ok, key=lambda s: (s[3], -s[2])) if ok else min(sweep, key=lambda s: s[2])
    ok = [s for s in sweep if s[3] >= goal - 1e-12]
    return min(ok, key=lambda s: (s[2], -s[3])) if ok else max(sweep, key=lambda s: s[3])


def calibrate(
    predicted: F64,
    costs: F64,
    kind: str,
    value: float,
    *,
    scores: F64 | None = None,
) -> Calibration:
    """Pick λ for a target on traffic with per-prompt ``predicted`` qualities and ``costs`` (both (n, m))."""
    if kind not in TARGETS:
        raise DatasetError(f"unknown calibration target {kind!r} (known: {', '.join(TARGETS)})")
    if len(predicted) == 0:
        raise DatasetError("calibration needs at least one prompt")
    quality = scores if scores is not None and np.isfinite(scores).all() else predicted
    goal = value * float(np.max(quality.mean(axis=0)))
    lam, share, cost, q = _pick(_sweep(predicted, quality, costs), kind, value, goal)
    t, t_share, t_cost, t_q = _pick(_threshold_sweep(predicted, quality, costs), kind, value, goal)
    return Calibration(
        kind, value, lam, share, cost * 1000, q, len(predicted), t, (t_share, t_cost * 1000, t_q)
    )


def with_calibration(artifact: RouterArtifact, calibration: Calibration) -> RouterArtifact:
    """A copy of ``artifact`` carrying ``calibration`` (save it with ``save_router``)."""
    return RouterArtifact(
        embedder_id=artifact.embedder_id,
        predictor=artifact.predictor,
        fingerprint=artifact.fingerprint,
        metrics=artifact.metrics,
        calibration=calibration.to_json(),
        info=artifact.info,
    )
