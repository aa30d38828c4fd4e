"""RouteLLM and RouterBench metrics on constructed cases with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from switchman.errors import DatasetError
from switchman.learning.evaluate import (
    aiq,
    kfold_indices,
    lambda_sweep,
    nondecreasing_hull,
    routellm_gain,
    routellm_metrics,
    routellm_oracle_points,
    routerbench_metrics,
)


def _pair(n: int = 1000, seed: int = 123) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    strong = (rng.random(n) < 0.8).astype(float)
    weak = (rng.random(n) < 0.6).astype(float)
    return strong, weak


def test_routellm_random_router_is_half_and_oracle_beats_it() -> None:
    strong, weak = _pair()
    rep = routellm_metrics(np.random.default_rng(1).random(len(strong)), strong, weak)
    assert len(rep.points) == 11
    assert rep.points[0][0] == 0.0 and rep.points[-1][0] == 1.0
    assert rep.points[0][1] == pytest.approx(weak.mean()) and rep.points[-1][1] == pytest.approx(
        strong.mean()
    )
    assert rep.apgr == pytest.approx(0.5, abs=0.05)
    assert rep.random_apgr == pytest.approx(0.5, abs=0.05)
    assert rep.oracle_apgr > 1.0


def test_routellm_perfect_scores_and_cpt() -> None:
    strong, weak = _pair()
    rep = routellm_metrics(strong - weak, strong, weak)
    assert rep.apgr > 0.9
    assert rep.cpt["50%"] < 0.35 and rep.cpt["20%"] <= rep.cpt["50%"] <= rep.cpt["80%"]
    assert rep.auc == pytest.approx(np.trapezoid([p[1] for p in rep.points], [p[0] for p in rep.points]))


def test_routellm_oracle_matches_get_optimal_accuracy() -> None:
    strong = np.array([1, 1, 0, 1, 0.0])
    weak = np.array([0, 1, 1, 0, 0.0])
    pts = routellm_oracle_points(strong, weak)
    # weak right on 2/5; two strong-only wins available
    assert pts[0] == (0.0, 0.4)
    assert pts[2][1] == pytest.approx(0.4 + 1 / 5)  # 20 % strong calls = one call
    assert pts[-1][1] == pytest.approx(0.8)


def test_routellm_rejects_equal_models() -> None:
    with pytest.raises(DatasetError):
        routellm_metrics(np.zeros(3), np.ones(3), np.ones(3))


def test_nondecreasing_hull_and_aiq() -> None:
    pts = [(0.0, 0.2), (1.0, 0.3), (2.0, 0.8), (3.0, 0.7), (1.5, 0.1)]
    hull = nondecreasing_hull(pts)
    assert hull == [(0.0, 0.2), (2.0, 0.8)]
    # area: trapezoid 0..2 (0.2→0.8) = 1.0, flat 0.8 over 2..4 = 1.6; range 4
    assert aiq(hull, 0.0, 4.0) == pytest.approx((1.0 + 1.6) / 4)


def test_routerbench_metrics_on_perfect_predictions() -> None:
    rng = np.random.default_rng(0)
    scores = (rng.random((400, 3)) < [0.4, 0.6, 0.8]).astype(float)
    costs = np.tile([1.0, 2.0, 10.0], (400, 1))
    rep = routerbench_metrics(scores.copy(), scores, costs, ["a", "b", "c"])
    assert rep.best_single == "c"
    assert rep.aiq > rep.zero_aiq
    assert rep.oracle[1] == pytest.approx(scores.max(axis=1).mean())
    assert rep.quality_at_budget["50%"]["router"] > rep.quality_at_budget["50%"]["best_single"]
    pts = lambda_sweep(scores, scores, costs, [0.0, 1e9])
    assert pts[1] == (1.0, pytest.approx(scores[:, 0].mean()))


def test_kfold_indices_partition() -> None:
    folds = kfold_indices(23, 5, seed=3)
    tests = np.concatenate([t for _, t in folds])
    assert sorted(tests.tolist()) == list(range(23))
    for train, test in folds:
        assert not set(train.tolist()) & set(test.tolist())
    with pytest.raises(DatasetError):
        kfold_indices(3, 5)


def test_routellm_gain_is_the_apgr_numerator_and_defined_for_tied_models() -> None:
    rng = np.random.default_rng(4)
    strong = (rng.random(300) < 0.8).astype(float)
    weak = (rng.random(300) < 0.5).astype(float)
    win = rng.normal(size=300) + strong - weak
    rep = routellm_metrics(win, strong, weak)
    gain = routellm_gain(win, strong, weak)
    assert gain / (strong.mean() - weak.mean()) == pytest.approx(rep.apgr)
    tied = weak.copy()  # routellm_metrics refuses equal means; the gain is simply 0 for a useless router
    assert routellm_gain(np.zeros(300), tied, weak) == pytest.approx(0.0)
    with pytest.raises(DatasetError):
        routellm_gain(np.zeros(0), tied[:0], weak[:0])
