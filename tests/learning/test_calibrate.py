"""Calibration picks λ for strong-share, quality and budget targets and writes it into the artifact."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from switchman.errors import DatasetError
from switchman.learning.calibrate import calibrate, cost_matrix, with_calibration
from switchman.routing.learned import KNNBank, KNNPredictor, RouterArtifact, load_router, save_router


def _traffic() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    predicted = np.column_stack([rng.uniform(0.3, 0.9, 1000), rng.uniform(0.5, 1.0, 1000)])
    costs = np.tile([0.0001, 0.002], (1000, 1))
    return predicted, costs


@pytest.mark.parametrize("share", [0.0, 0.2, 0.5])
def test_strong_share_target(share: float) -> None:
    predicted, costs = _traffic()
    cal = calibrate(predicted, costs, "strong_share", share)
    assert cal.strong_share <= share + 1e-9
    assert cal.strong_share >= share - 0.03
    chosen = np.argmax(predicted - cal.lam * costs, axis=1)
    assert np.mean(chosen == 1) == pytest.approx(cal.strong_share)
    # the threshold-policy knob: cheapest model predicted >= target, else the best predicted
    assert cal.target is not None and cal.target_point is not None
    clears_weak = predicted[:, 0] >= cal.target
    by_threshold = np.where(
        clears_weak, 0, np.where(predicted[:, 1] >= cal.target, 1, predicted.argmax(axis=1))
    )
    assert np.mean(by_threshold == 1) == pytest.approx(cal.target_point[0])
    assert cal.target_point[0] <= share + 1e-9


def test_budget_and_quality_targets() -> None:
    predicted, costs = _traffic()
    cal = calibrate(predicted, costs, "budget_usd_per_1k", 1.0)
    assert cal.cost_per_1k <= 1.0
    cheap = calibrate(predicted, costs, "budget_usd_per_1k", 0.01)  # below the cheapest: all-cheap
    assert cheap.strong_share == 0.0
    q = calibrate(predicted, costs, "quality", 0.95)
    assert q.quality >= 0.95 * predicted.mean(axis=0).max() - 1e-9
    with pytest.raises(DatasetError):
        calibrate(predicted, costs, "vibes", 1.0)


def test_cost_matrix_fills_from_prices() -> None:
    costs = cost_matrix(["x" * 400], ["a", "b"], {"a": (1.0, 2.0), "b": (10.0, 20.0)}, output_tokens=100)
    assert costs[0] == pytest.approx([(100 * 1 + 100 * 2) / 1e6, (100 * 10 + 100 * 20) / 1e6])
    with pytest.raises(DatasetError):
        cost_matrix(["x"], ["unknown"], {})


def test_calibration_is_written_into_the_artifact(tmp_path: Path) -> None:
    predicted, costs = _traffic()
    bank = KNNBank(np.eye(2, dtype=np.float32), ("weak", "strong"), np.array([[1.0, 1.0], [0.0, 1.0]]))
    art = RouterArtifact(embedder_id="hashing/char3-5-w1-512", predictor=KNNPredictor((bank,), k=1))
    cal = calibrate(predicted, costs, "strong_share", 0.2)
    save_router(tmp_path / "r", with_calibration(art, cal))
    back = load_router(tmp_path / "r")
    assert back.calibration["kind"] == "strong_share"
    assert back.calibration["lambda"] == pytest.approx(cal.lam)
    assert back.calibration["target"] == pytest.approx(cal.target)
