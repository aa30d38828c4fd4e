"""A learned router artifact (switchman.routing.learned) plugs into the scoring step via `predictor:`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from routing_helpers import catalog, config, request

from switchman.catalog import NoStats
from switchman.errors import ConfigError
from switchman.routing.embed import HashingEmbedder, get_embedder
from switchman.routing.learned import KNNBank, KNNPredictor, RouterArtifact, save_router
from switchman.routing.policy import build_policies

EMB = HashingEmbedder()
CODE = ["write a python function to sort a list", "fix this python bug", "implement quicksort in python"]
CHAT = ["hello how are you", "tell me a joke", "what is your favourite colour"]


def artifact(tmp_path: Path, calibration: dict[str, float] | None = None) -> Path:
    """kNN bank: the small model fails code prompts, everyone does chat well."""
    texts = CODE + CHAT
    scores = np.array([[0.0, 1.0, 1.0]] * len(CODE) + [[1.0, 1.0, 1.0]] * len(CHAT))
    bank = KNNBank(EMB.embed(texts), ("small", "coder", "large"), scores)
    art = RouterArtifact(EMB.model_id, KNNPredictor((bank,), k=3, alpha=0.1), calibration=calibration or {})
    return save_router(tmp_path / "router", art)


def decide(path: Path, text: str, **router: object):  # type: ignore[no-untyped-def]
    cfg = config({"r": {"policy": "threshold", "predictor": str(path), **router}})
    policy = build_policies(cfg, embedder_loader=get_embedder)["r"]
    return policy.decide(request(text), catalog(cfg), NoStats())


def test_learned_predictions_drive_the_threshold_policy(tmp_path: Path) -> None:
    path = artifact(tmp_path)
    code = decide(path, "write a python function to reverse a list")
    assert code.chain[0].model == "coder" and code.chain[0].reason.startswith("threshold:q=")
    chat = decide(path, "hello, tell me a joke")
    assert chat.chain[0].model == "small"
    assert chat.trace is not None and chat.trace.embedder == EMB.model_id  # the artifact's embedder
    assert {c.quality_source for c in chat.trace.candidates} == {"learned"}


def test_calibrated_lambda_is_used_by_the_utility_policy(tmp_path: Path) -> None:
    cheap = decide(artifact(tmp_path, {"lambda": 1e6}), "write a python function", policy="utility")
    assert cheap.chain[0].model == "small"  # cost dominates
    rich = decide(artifact(tmp_path, {"lambda": 0.0}), "write a python function", policy="utility")
    assert rich.chain[0].model in ("coder", "large") and rich.chain[0].reason.startswith("utility:q=")
    # the config's cost_weight wins over the artifact's
    cfg_wins = decide(
        artifact(tmp_path, {"lambda": 1e6}), "write a python function", policy="utility", cost_weight=0
    )
    assert cfg_wins.chain[0].model != "small"


def test_a_missing_artifact_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        decide(tmp_path / "nope", "hi")
