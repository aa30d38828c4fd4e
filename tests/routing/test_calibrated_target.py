"""The threshold target: config, else the artifact's calibrated target, else 0.7; per request wins."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from routing_helpers import catalog, config, request

from switchman.catalog import NoStats
from switchman.routing.embed import HashingEmbedder, get_embedder
from switchman.routing.learned import KNNBank, KNNPredictor, RouterArtifact, save_router
from switchman.routing.policy import DEFAULT_TARGET, build_policies
from switchman.routing.trace import RoutedDecision

EMB = HashingEmbedder()
CODE = ["write a python function to sort a list", "fix this python bug", "implement quicksort in python"]
PROMPT = "write a python function to reverse a list"


def artifact(tmp_path: Path, calibration: dict[str, float]) -> Path:
    """kNN bank: on code prompts the small model scores 0.3, the coder 0.6, the large model 0.9."""
    scores = np.array([[0.3, 0.6, 0.9]] * len(CODE))
    bank = KNNBank(EMB.embed(CODE), ("small", "coder", "large"), scores)
    art = RouterArtifact(EMB.model_id, KNNPredictor((bank,), k=3, alpha=0.0), calibration=calibration)
    return save_router(tmp_path / "router", art)


def decide(path: Path, threshold: float | None = None, **router: object) -> RoutedDecision:
    cfg = config({"r": {"policy": "threshold", "predictor": str(path), **router}})
    policy = build_policies(cfg, embedder_loader=get_embedder)["r"]
    return policy.decide(request(PROMPT, threshold=threshold), catalog(cfg), NoStats())


def primary_and_target(d: RoutedDecision) -> tuple[str, float]:
    assert d.trace is not None
    return d.chain[0].model, d.trace.target


def test_the_calibrated_target_is_the_default(tmp_path: Path) -> None:
    path = artifact(tmp_path, {"lambda": 10.0, "target": 0.5})
    assert primary_and_target(decide(path)) == ("coder", 0.5)


def test_without_a_calibrated_target_the_old_default_applies(tmp_path: Path) -> None:
    path = artifact(tmp_path, {"lambda": 10.0})
    assert DEFAULT_TARGET == 0.7
    assert primary_and_target(decide(path)) == ("large", 0.7)


def test_the_config_target_wins_over_the_artifact(tmp_path: Path) -> None:
    path = artifact(tmp_path, {"target": 0.5})
    assert primary_and_target(decide(path, target=0.2)) == ("small", 0.2)


def test_the_request_threshold_wins_over_the_calibrated_target(tmp_path: Path) -> None:
    path = artifact(tmp_path, {"target": 0.5})
    assert primary_and_target(decide(path, threshold=0.8)) == ("large", 0.8)
    assert primary_and_target(decide(path, threshold=0.1)) == ("small", 0.1)
