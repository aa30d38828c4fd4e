"""Explanations: JSON with every candidate, text for humans, a short header-safe form."""

from __future__ import annotations

from routing_helpers import catalog, config, request

from switchman.catalog import NoStats
from switchman.routing.decision import Candidate, Decision
from switchman.routing.embed import HashingEmbedder
from switchman.routing.explain import SHORT_MAX, explain_json, explain_text, short_route
from switchman.routing.policy import build_policies

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
