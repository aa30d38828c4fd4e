"""Explanations: JSON with every candidate, text for humans, a short header-safe form."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from routing_helpers import MODELS, catalog, config, request

from switchman.catalog import NoStats
from switchman.errors import SwitchmanError
from switchman.routing import explain
from switchman.routing.decision import Candidate, Decision
from switchman.routing.embed import HashingEmbedder, get_embedder
from switchman.routing.explain import SHORT_MAX, explain_json, explain_log, explain_text, short_route
from switchman.routing.learned import KNNBank, KNNPredictor, RouterArtifact, save_router
from switchman.routing.policy import build_policies, explicit_decision
from switchman.routing.trace import RoutedDecision

IMAGE = [{"type": "text", "text": "what is this?"}, {"type": "image_url", "image_url": {"url": "x"}}]
ROUTES = [
    {"name": "code", "examples": ["write a python function"], "threshold": 0.3, "then": {"model": "coder"}}
]


def routed(content: object) -> Decision:
    cfg = config({"switchman/auto": {"policy": "threshold", "routes": ROUTES, "embedder": "hashing"}})
    policy = build_policies(cfg, embedder_loader=lambda _: HashingEmbedder())["switchman/auto"]
    return policy.decide(request(content), catalog(cfg), NoStats())


def test_json_has_every_candidate_with_quality_cost_and_reason() -> None:
    data = explain_json(routed(IMAGE))
    assert data["model"] == "large" and data["router"] == "switchman/auto"
    by_model = {c["model"]: c for c in data["candidates"]}
    assert by_model["large"]["status"] == "primary"
    assert by_model["large"]["predicted_quality"] is not None and by_model["large"]["expected_cost_usd"] > 0
    assert by_model["large"]["quality_source"] == "prior"
    assert by_model["small"] == {
        "model": "small",
        "tier": "small",
        "status": "dropped",
        "reason": "no-vision",
        "predicted_quality": None,
        "quality_source": None,
        "expected_cost_usd": None,
        "expected_output_tokens": None,
    }
    assert data["features"]["needs_vision"] == 1.0
    assert data["route_scores"].keys() == {"code"}
    assert data["embedder"] == "hashing/char3-5-w1-512"


def test_text_explanation_lists_candidates_and_rule() -> None:
    text = explain_text(routed("write a python function to add numbers"))
    assert "model    coder" in text
    assert "route:code=" in text
    for name in ("small", "coder", "large"):
        assert name in text
    assert "heuristic prior" in text


def test_short_form_is_ascii_header_safe_and_bounded() -> None:
    d = routed("hello")
    short = short_route(d)
    assert short.startswith("switchman/auto;small;threshold:prior:q=")
    odd = Decision(chain=(Candidate("m", None, 0.0, "rule:caf\u00e9\r\nx-evil: 1" + "y" * 400),), policy="p")
    s = short_route(odd)
    assert s.isascii() and "\r" not in s and "\n" not in s and len(s) <= SHORT_MAX
    assert short_route(Decision(chain=(), policy="p")) == "p"


def test_plain_decisions_explain_too() -> None:
    d = Decision(
        chain=(Candidate("m", 0.5, 0.001, "explicit"),), policy="explicit", features={"prompt_tokens": 3}
    )
    assert explain_json(d)["chain"][0]["model"] == "m"
    assert "explicit" in explain_text(d)


def test_explanations_show_the_text_features_that_were_computed() -> None:
    fixed = config({"switchman/fixed": {"policy": "ordered", "models": ["small"], "max_fallbacks": 0}})
    policy = build_policies(fixed)["switchman/fixed"]
    d = policy.decide(request("Bonjour, comment ça va ? Je voudrais un café."), catalog(fixed), NoStats())
    data = explain_json(d)
    assert data["language"] is None and "has_code" not in data["features"]  # no step needed them
    by_lang = config(
        {"switchman/auto": {"rules": [{"name": "fr", "when": {"language": ["fr"]}, "then": {"tier": "top"}}]}}
    )
    policy = build_policies(by_lang)["switchman/auto"]
    d = policy.decide(request("Bonjour, comment ça va ? Je voudrais un café."), catalog(by_lang), NoStats())
    data = explain_json(d)
    assert data["language"] == "fr" and data["steps"] == ["rule:fr"]
    assert "lang fr" in explain_text(d)


# --- the log line's explanation (explain_log) and explain_json, against the trace they explain ---


def explained_from_trace(d: Decision) -> dict[str, Any]:
    """What explain_json returned when it read everything from ``d.trace`` (the oracle: written out here,
    independent of explain.py)."""
    chain = [
        {
            "model": c.model,
            "predicted_quality": c.predicted_quality,
            "expected_cost_usd": c.expected_cost_usd,
            "reason": c.reason,
        }
        for c in d.chain
    ]
    head: dict[str, Any] = {
        "router": d.policy,
        "model": d.chain[0].model if d.chain else None,
        "route": short_route(d),
        "chain": chain,
        "features": dict(d.features),
        "dropped": [{"model": m, "reason": r} for m, r in d.dropped],
    }
    trace = d.trace if isinstance(d, RoutedDecision) else None
    if trace is None:
        return head
    a = trace.analysis
    return head | {
        "policy": trace.policy,
        "target": trace.target,
        "steps": list(trace.steps),
        "route_scores": dict(trace.route_scores),
        "embedder": trace.embedder,
        "predictor": trace.predictor,
        "language": a.computed_language,
        "declared": {"tier": a.tier, "latency": a.latency, "task": a.task},
        "candidates": [
            {
                "model": c.model,
                "tier": c.tier,
                "status": c.status,
                "reason": c.reason,
                "predicted_quality": c.quality,
                "quality_source": c.quality_source or None,
                "expected_cost_usd": c.cost_usd,
                "expected_output_tokens": c.output_tokens,
            }
            for c in trace.candidates
        ],
        "notes": list(trace.notes),
    }


NO_JSON = {
    **MODELS,
    "coder": {**MODELS["coder"], "capabilities": {"vision": False, "tools": False, "json": False}},
}
RULES = [
    {"name": "premium", "when": {"tier": ["premium"]}, "then": {"tier": "top"}},
    {"name": "batch", "when": {"latency": ["batch"]}, "then": {"policy": "cheapest"}},
    {"name": "interactive", "when": {"latency": ["interactive"]}, "then": {"latency": ["low", "medium"]}},
    {"name": "fr", "when": {"language": ["fr"]}, "then": {"tier": "top"}},
    {"name": "vip", "when": {"keys": ["vip"]}, "then": {"router": "switchman/quality"}},
]
PROMPTS = [
    "hello",
    "write a python function to add numbers",
    "Bonjour, comment ça va ? Je voudrais un café.",
    "Design a distributed consensus protocol and prove its safety under partitions. " * 8,
    'say "hi", then \\ and a tab\t and \u00e9\u4e2d\U0001f600',
]


class Down:  # (compiled, the catalog's NoStats cannot be subclassed here)
    def available(self, model: str) -> bool:
        return model != "small"

    def latency_ms(self, model: str) -> float | None:
        return None

    def error_rate(self, model: str) -> float:
        return 0.0


def decisions(tmp_path: Path) -> Iterator[Decision]:
    """Decisions of every shape: rules (tier, latency, language, delegation), a semantic route hit and
    miss, dropped models (vision, tools, json, unavailable), unused fallbacks, a request threshold, a
    learned predictor, a plain Decision and an explicit one."""
    routers = {
        "switchman/auto": {"policy": "threshold", "routes": ROUTES, "embedder": "hashing", "rules": RULES},
        "switchman/quality": {"policy": "quality"},
        "short": {"policy": "utility", "max_fallbacks": 1},
        "learned": {"policy": "threshold", "predictor": str(learned_artifact(tmp_path))},
    }
    cfg = config(routers, NO_JSON)
    policies = build_policies(cfg, embedder_loader=lambda name: get_embedder(name))
    cat = catalog(cfg)
    body_variants: list[dict[str, Any]] = [
        {},
        {"tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}]},
        {"response_format": {"type": "json_object"}},
        {"max_tokens": 5},
    ]
    for name, policy in policies.items():
        for text in PROMPTS:
            for content in (text, [{"type": "text", "text": text}, *IMAGE[1:]]):
                for body in body_variants:
                    for kw in ({}, {"tier": "premium"}, {"latency": "batch"}, {"latency": "interactive"}):
                        for extra in ({}, {"threshold": 0.95}, {"key_id": "vip"}):
                            info = request(content, model=name, body=body, **kw, **extra)
                            try:
                                yield policy.decide(info, cat, NoStats())
                                yield policy.decide(info, cat, Down())
                            except SwitchmanError:
                                pass
    yield explicit_decision(request("hi", model="large"), cat)
    yield Decision(
        chain=(Candidate("m", None, 0.0, "explicit, with a comma"),), policy="p", dropped=(("x", "y"),)
    )
    yield Decision(chain=(), policy="empty")


def learned_artifact(tmp_path: Path) -> Path:
    emb = HashingEmbedder()
    texts = ["write a python function", "fix this bug", "hello how are you", "tell me a joke"]
    scores = np.array([[0.0, 1.0, 1.0]] * 2 + [[1.0, 1.0, 1.0]] * 2)
    bank = KNNBank(emb.embed(texts), ("small", "coder", "large"), scores)
    return save_router(
        tmp_path / "router", RouterArtifact(emb.model_id, KNNPredictor((bank,), k=3, alpha=0.1))
    )


def test_explain_json_and_the_log_line_say_what_the_trace_says(tmp_path: Path) -> None:
    seen: set[str] = set()
    n = 0
    for d in decisions(tmp_path):
        # fresh decisions: explain_json, explain_log before the trace is ever built
        want = orjson.dumps(explain_log(d, short_route(d)))
        assert orjson.dumps(explain_log(d)) == want
        plain = explain_json(d)
        assert orjson.dumps(plain) == want
        expected = explained_from_trace(d)  # builds the trace
        assert plain == expected and list(plain) == list(expected)
        assert orjson.dumps(expected) == want
        assert json_types(plain) == json_types(expected)  # plain lists and dicts, as before
        if isinstance(d, RoutedDecision):
            # the same decision whose trace builder is not the pipeline's partial: read from the trace
            other = dataclasses.replace(d, build_trace=lambda d=d: d.trace)
            assert orjson.dumps(explain_log(other)) == want and explain_json(other) == expected
            seen.update(c["status"] for c in expected["candidates"])
            seen.update(f"q:{c['quality_source']}" for c in expected["candidates"])
            seen.update(expected["steps"])
            seen.update(f"declared:{k}" for k, v in expected["declared"].items() if v)
            seen.update(f"lang:{expected['language']}" for _ in [0] if expected["language"])
            seen.update(f"dropped:{r['reason']}" for r in expected["dropped"])
        n += 1
    assert n > 500
    for shape in (
        "primary", "fallback", "unused", "dropped", "q:prior", "q:learned", "rule:premium", "rule:batch",
        "rule:interactive", "rule:fr", "declared:tier", "declared:latency", "lang:fr", "dropped:no-vision",
        "dropped:no-tools", "dropped:no-json", "dropped:unavailable",
    ):  # fmt: skip
        assert shape in seen, shape
    assert any(s.startswith("route:code=") for s in seen)
    assert any(s.startswith("rule:vip>switchman/quality") for s in seen)


def json_types(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: json_types(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_types(v) for v in value]
    return type(value).__name__


def test_short_form_is_remembered_and_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(explain, "_SHORT_KEPT", 3)
    monkeypatch.setattr(explain, "_SHORT", {})
    odd = Decision(chain=(Candidate("m", None, 0.0, " caf\u00e9\r\n" + "y" * 400),), policy="p")
    first = short_route(odd)
    assert short_route(odd) == first == explain._short(f"p;m; caf\u00e9\r\n{'y' * 400}")
    for i in range(10):
        assert short_route(Decision(chain=(Candidate(f"m{i}", None, 0.0, "r"),), policy="p")) == f"p;m{i};r"
    assert len(explain._SHORT) <= 3
