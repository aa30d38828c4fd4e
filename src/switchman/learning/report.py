"""One evaluation report (a JSON-able dict) from predictions, and its text rendering."""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import Any

import numpy as np
import numpy.typing as npt

from switchman.errors import DatasetError
from switchman.learning.evaluate import routellm_metrics, routerbench_metrics
from switchman.learning.outcomes import OutcomeMatrix

__all__ = ["evaluation_report", "format_report"]

F64 = npt.NDArray[np.float64]


def _clean(obj: Any) -> Any:
    """NaN → None, tuples → lists, so the report is strict JSON."""
    if isinstance(obj, float):
        return None if math.isnan(obj) else obj
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    return obj


def evaluation_report(
    data: OutcomeMatrix,
    predicted: F64,
    costs: F64 | None,
    *,
    strong: str | None = None,
    weak: str | None = None,
) -> dict[str, Any]:
    """Two-model (RouteLLM) metrics when a pair is given or the data has two models; N-model metrics
    (RouterBench) when every (prompt, model) has a cost. Rows with any missing score are dropped."""
    keep = np.isfinite(data.scores).all(axis=1) & np.isfinite(predicted).all(axis=1)
    if not keep.any():
        raise DatasetError("no prompt has a score for every model")
    scores, pred = data.scores[keep], predicted[keep]
    report: dict[str, Any] = {"n_prompts": int(keep.sum()), "models": list(data.models)}
    means = scores.mean(axis=0)
    if strong is None and weak is None and len(data.models) == 2:
        order = np.argsort(means)
        weak, strong = data.models[int(order[0])], data.models[int(order[1])]
    if strong is not None and weak is not None:
        for m in (strong, weak):
            if m not in data.models:
                raise DatasetError(f"model {m!r} is not in the data")
        s, w = data.models.index(strong), data.models.index(weak)
        rep = routellm_metrics(pred[:, s] - pred[:, w], scores[:, s], scores[:, w], strong=strong, weak=weak)
        report["two_model"] = asdict(rep)
    if costs is not None and np.isfinite(costs[keep]).all():
        report["n_model"] = asdict(routerbench_metrics(pred, scores, costs[keep], data.models))
    return _clean(report)  # type: ignore[no-any-return]


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.1%}"


def format_report(report: dict[str, Any]) -> str:
    lines = [f"{report['n_prompts']} prompts, {len(report['models'])} models"]
    two = report.get("two_model")
    if two:
        lines += [
            "",
            f"two models (RouteLLM metrics): strong={two['strong']} ({two['strong_quality']:.4f})"
            f"  weak={two['weak']} ({two['weak_quality']:.4f})",
            f"  APGR {two['apgr']:.4f}   random {two['random_apgr']:.4f}   oracle {two['oracle_apgr']:.4f}",
            f"  CPT(50%) {_pct(two['cpt']['50%'])}   CPT(80%) {_pct(two['cpt']['80%'])}",
            "  strong share -> quality: " + "  ".join(f"{x:.0%}:{y:.3f}" for x, y in two["points"]),
        ]
    nm = report.get("n_model")
    if nm:
        best = nm["best_single"]
        lines += [
            "",
            "N models (RouterBench metrics):",
            f"  AIQ {nm['aiq']:.4f}   Zero router {nm['zero_aiq']:.4f}",
            f"  best single {best}: quality {nm['singles'][best][1]:.4f}"
            f" at ${nm['singles'][best][0]:.6g}/prompt",
            f"  oracle: quality {nm['oracle'][1]:.4f} at ${nm['oracle'][0]:.6g}/prompt",
        ]
        for frac, row in nm["quality_at_budget"].items():
            router = "n/a" if row["router"] is None else f"{row['router']:.4f}"
            zero = "n/a" if row["zero"] is None else f"{row['zero']:.4f}"
            lines.append(
                f"  at <= {frac} of {best}'s cost: router {router}   best single model under it {zero}"
            )
    if not two and not nm:
        lines.append("(no two-model pair and no costs: give --strong/--weak or --price/--config)")
    return "\n".join(lines)
