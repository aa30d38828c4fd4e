"""Draw an evaluation report's curves with every baseline (needs the optional ``plot`` extra)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from switchman.errors import DatasetError

__all__ = ["plot_report"]


def plot_report(report: dict[str, Any], path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise DatasetError("--plot needs matplotlib: pip install 'switchman[plot]'") from exc
    panels = [k for k in ("two_model", "n_model") if report.get(k)]
    if not panels:
        raise DatasetError("nothing to plot: no two-model pair and no costs")
    fig, axes = plt.subplots(1, len(panels), figsize=(7 * len(panels), 5), squeeze=False)
    for ax, key in zip(axes[0], panels, strict=True):
        r = report[key]
        if key == "two_model":
            ax.plot(*zip(*r["points"], strict=True), marker=".", label="switchman")
            ax.plot(*zip(*r["oracle_points"], strict=True), marker="x", label="oracle")
            ax.plot([0, 1], [r["weak_quality"], r["strong_quality"]], ls=":", label="random")
            ax.axhline(r["weak_quality"], color="grey", ls="--", label=r["weak"])
            ax.axhline(r["strong_quality"], color="red", ls="--", label=r["strong"])
            ax.set_xlabel("strong-model calls (share)")
            ax.set_title(f"APGR {r['apgr']:.3f}")
        else:
            ax.scatter(*zip(*r["points"], strict=True), s=8, alpha=0.4, label="switchman, λ sweep")
            ax.plot(*zip(*r["hull"], strict=True), marker=".", label=f"switchman hull (AIQ {r['aiq']:.3f})")
            ax.plot(
                *zip(*r["zero_hull"], strict=True), ls="--", label=f"Zero router (AIQ {r['zero_aiq']:.3f})"
            )
            for m, (c, q) in r["singles"].items():
                ax.scatter([c], [q], s=18)
                ax.annotate(m, (c, q), fontsize=7)
            ax.scatter([r["oracle"][0]], [r["oracle"][1]], marker="*", s=80, label="oracle")
            ax.set_xlabel("mean cost per prompt (USD)")
        ax.set_ylabel("quality")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
