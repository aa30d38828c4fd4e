"""The pipeline end to end with plain values: constraints → rules → routes → scoring → chain."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt
import pytest
from routing_helpers import catalog, config, request

from switchman.catalog import NoStats
from switchman.errors import NoCandidate
from switchman.routing.embed import HashingEmbedder
from switchman.routing.policy import PipelinePolicy, build_policies, explicit_decision
from switchman.routing.scoring import QualityPredictor
from switchman.routing.trace import RoutedDecision

IMAGE = [{"type": "text", "text": "what is this?"}, {"type": "image_url", "image_url": {"url": "x"}}]
ROUTES = [
    {
        "name": "code",
        "examples": ["write a python function", "fix this python bug", "refactor this class"],
        "threshold": 0.3,
        "then": {"model": "coder"},
    }
]
RULES = [
    {"name": "premium", "when": {"tier": ["premium"]}, "then": {"tier": "top"}},
    {"name": "batch", "when": {"latency": ["batch"]}, "then": {"policy": "cheapest"}},
]


class CountingEmbedder(HashingEmbedder):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        self.calls += 1
        return super().embed(texts)


class FixedPredictor:
    """A plain predictor value: fixed qualities, records what it was given."""

    def __init__(self, q: dict[str, float]) -> None:
        self.q = q
        self.seen: list[tuple[npt.NDArray[np.float32], Mapping[str, float]]] = []

    def predict(self, embedding: npt.NDArray[np.float32], features: Mapping[str, float]) -> dict[str, float]:
        self.seen.append((embedding, features))
        return dict(self.q)


def auto(emb: HashingEmbedder | None = None, **router: object) -> tuple[dict, object]:  # type: ignore[type-arg]
    rc = {"policy": "threshold", "rules": RULES, "routes": ROUTES, "embedder": "hashing", **router}
    cfg = config({"switchman/auto": rc, "switchman/quality": {"policy": "quality"}})
    policies = build_policies(cfg, embedder_loader=lambda name: emb or HashingEmbedder())
    return policies, catalog(cfg)


def decide(info: object, emb: HashingEmbedder | None = None, **router: object) -> RoutedDecision:
    policies, cat = auto(emb, **router)
    d = policies["switchman/auto"].decide(info, cat, NoStats())  # type: ignore[arg-type]
    assert isinstance(d, RoutedDecision)
    return d


def test_easy_request_goes_to_the_cheapest_model_that_clears_the_target() -> None:
    d = decide(request("hello, how are you?"))
    assert [c.model for c in d.chain] == ["small", "coder", "large"]
    assert d.chain[0].reason.startswith("threshold:prior:q=")
    assert d.chain[1].reason == "fallback"
    assert d.features["prompt_tokens"] > 0 and d.policy == "switchman/auto"


def test_vision_request_never_gets_a_non_vision_model() -> None:
    d = decide(request(IMAGE))
    assert [c.model for c in d.chain] == ["large"]
    assert dict(d.dropped) == {"small": "no-vision", "coder": "no-vision"}


def test_no_candidate_is_a_client_error() -> None:
    models = {"small": {"provider": "sim", "tier": "small"}}
    cfg = config({"switchman/auto": {}}, models=models)
    policy = build_policies(cfg)["switchman/auto"]
    with pytest.raises(NoCandidate, match="small \\(no-vision\\)"):
        policy.decide(request(IMAGE), catalog(cfg), NoStats())


def test_premium_rule_gets_the_top_tier_and_skips_routes() -> None:
    emb = CountingEmbedder()
    d = decide(request("write a python function", tier="premium"), emb)
    assert d.chain[0].model == "large" and d.chain[0].reason.startswith("rule:premium|")
    assert d.trace is not None and d.trace.route_scores == ()
    assert emb.calls == 1  # only the route examples at build time; no request embedding needed


def test_semantic_route_sends_code_to_the_code_model() -> None:
    d = decide(request("write a python function that parses dates"))
    assert d.chain[0].model == "coder"
    assert d.chain[0].reason.startswith("route:code=")
    assert d.trace is not None and d.trace.steps[0].startswith("route:code=")


def test_modifier_rule_changes_scoring_and_routes_still_apply() -> None:
    d = decide(request("tell me about the weather", latency="batch"), target=0.99)
    assert d.chain[0].model == "small" and d.chain[0].reason == "rule:batch|cheapest"


def test_request_threshold_overrides_the_target() -> None:
    hard = "Design a distributed consensus protocol and prove its safety under partitions."
    low = decide(request(hard, threshold=0.3))
    high = decide(request(hard, threshold=0.99))
    assert low.chain[0].model == "small" and high.chain[0].model == "large"
    assert high.features["target"] == 0.99


def test_max_fallbacks_bounds_the_chain() -> None:
    d = decide(request("hello"), max_fallbacks=1)
    assert len(d.chain) == 2
    assert d.trace is not None
    assert [c.status for c in d.trace.candidates] == ["primary", "fallback", "unused"]


def test_one_embedding_per_request_shared_by_routes_and_predictor() -> None:
    emb = CountingEmbedder()
    predictor: QualityPredictor = FixedPredictor({"small": 0.5, "coder": 0.8, "large": 0.95})
    policy = PipelinePolicy(
        "r",
        config({"r": {"policy": "threshold", "routes": ROUTES}}).routers["r"],
        embedder=emb,
        predictor=predictor,
    )
    built = emb.calls
    d = policy.decide(request("tell me about the weather in lisbon"), catalog(), NoStats())
    assert emb.calls == built + 1
    assert d.chain[0].model == "coder" and d.chain[0].reason == "threshold:q=0.80>=0.70"
    assert d.trace is not None and d.trace.analysis.embedding is not None
    assert predictor.seen[0][0] is d.trace.analysis.embedding  # the same vector, not recomputed
    assert predictor.seen[0][1]["prompt_tokens"] > 0


def test_delegating_to_another_router() -> None:
    rules = [{"name": "vip", "when": {"keys": ["vip"]}, "then": {"router": "switchman/quality"}}]
    d = decide(request("hello", key_id="vip"), rules=rules)
    assert d.policy == "switchman/quality"
    assert d.chain[0].model == "large" and d.chain[0].reason.startswith("rule:vip>switchman/quality|")


def test_unavailable_models_are_skipped() -> None:
    class Down:  # (compiled, the catalog's NoStats cannot be subclassed here)
        def available(self, model: str) -> bool:
            return model != "small"

        def latency_ms(self, model: str) -> float | None:
            return None

        def error_rate(self, model: str) -> float:
            return 0.0

    policies, cat = auto()
    d = policies["switchman/auto"].decide(request("hello"), cat, Down())
    assert d.chain[0].model == "coder" and ("small", "unavailable") in d.dropped


def test_legacy_list_policies_still_work() -> None:
    cfg = config(
        {
            "cheap": {"policy": "cheapest"},
            "best": {"policy": "quality", "models": ["small", "large"]},
            "order": {"policy": "ordered", "models": ["large", "small"], "max_fallbacks": 0},
        }
    )
    p, cat = build_policies(cfg), catalog(cfg)
    pick = {name: [c.model for c in p[name].decide(request("hi"), cat, NoStats()).chain] for name in p}
    assert pick == {"cheap": ["small", "coder", "large"], "best": ["large", "small"], "order": ["large"]}


def test_explicit_decision() -> None:
    d = explicit_decision(request("hi", model="large"), catalog())
    assert [c.model for c in d.chain] == ["large"] and d.chain[0].reason == "explicit"
    assert d.chain[0].expected_cost_usd > 0
