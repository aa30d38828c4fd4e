"""Constraints and rule matching/targets, with plain values."""

from __future__ import annotations

from datetime import UTC, datetime

from routing_helpers import catalog, request

from switchman.catalog import NoStats, Stats
from switchman.config.routing import RouteTarget, RuleConfig, RuleWhen
from switchman.routing.analyze import analyze
from switchman.routing.rules import (
    apply_target,
    constraint_failure,
    filter_candidates,
    first_rules,
    rule_matches,
)

CAT = catalog()
IMAGE = [{"type": "text", "text": "what is this?"}, {"type": "image_url", "image_url": {"url": "x"}}]


class Down:  # (compiled, the catalog's NoStats cannot be subclassed here)
    def __init__(self, *down: str) -> None:
        self.down = set(down)

    def available(self, model: str) -> bool:
        return model not in self.down

    def latency_ms(self, model: str) -> float | None:
        return None

    def error_rate(self, model: str) -> float:
        return 0.0


def failures(info: object, stats: Stats | None = None) -> dict[str, str | None]:
    a = analyze(info)  # type: ignore[arg-type]
    return {n: constraint_failure(CAT[n], a, info, stats or NoStats()) for n in CAT}  # type: ignore[arg-type]


def test_every_model_serves_a_plain_request() -> None:
    assert failures(request("hi")) == {"small": None, "coder": None, "large": None}


def test_vision_tools_json_constraints() -> None:
    assert failures(request(IMAGE)) == {"small": "no-vision", "coder": "no-vision", "large": None}
    assert failures(request("x", body={"response_format": {"type": "json_object"}}))["coder"] == "no-json"


def test_context_window_counts_tokens_and_max_tokens() -> None:
    long = "word " * 20000  # ~20k tokens: over small's 16k window
    f = failures(request(long))
    assert f["small"] is not None and f["small"].startswith("context:")
    assert f["coder"] is None and f["large"] is None
    # the output bound counts too
    f = failures(request("hi", body={"max_tokens": 15999}))
    assert f["small"] is not None and f["small"].startswith("context:")


def test_key_allowlist_and_availability() -> None:
    f = failures(request("hi", allowed_models=frozenset({"large"})))
    assert f == {"small": "key-not-allowed", "coder": "key-not-allowed", "large": None}
    assert failures(request("hi"), Down("coder"))["coder"] == "unavailable"


def test_filter_candidates_reports_dropped() -> None:
    info = request(IMAGE)
    kept, dropped = filter_candidates(list(CAT.values()), analyze(info), info, NoStats())
    assert [e.name for e in kept] == ["large"]
    assert dropped == [("small", "no-vision"), ("coder", "no-vision")]


def ts(hour: int, day: int = 2) -> float:  # 2024-01-{day} is a Tuesday for day=2
    return datetime(2024, 1, day, hour, 30, tzinfo=UTC).timestamp()


def test_rule_conditions() -> None:
    info = request("hi", tier="premium", latency="interactive", task="chat", key_id="k1")
    a = analyze(info)
    assert rule_matches(RuleWhen(), a, info, ts(12))
    assert rule_matches(RuleWhen(tier=["premium"], latency=["interactive"]), a, info, ts(12))
    assert not rule_matches(RuleWhen(tier=["premium"], latency=["batch"]), a, info, ts(12))
    assert rule_matches(RuleWhen(keys=["k1"], task=["chat"]), a, info, ts(12))
    assert not rule_matches(RuleWhen(keys=["k2"]), a, info, ts(12))
    night = RuleWhen(hours_utc=(22, 6))
    assert rule_matches(night, a, info, ts(23)) and rule_matches(night, a, info, ts(3))
    assert not rule_matches(night, a, info, ts(12))
    assert rule_matches(RuleWhen(days=["tue"]), a, info, ts(12))
    assert not rule_matches(RuleWhen(days=["sat", "sun"]), a, info, ts(12))
    assert rule_matches(RuleWhen(max_tokens=100, code=False, language=["en"]), a, info, ts(12))
    assert not rule_matches(RuleWhen(min_tokens=100), a, info, ts(12))


def test_first_rules_stop_at_the_first_decisive_rule() -> None:
    rules = [
        RuleConfig(name="batch", when=RuleWhen(latency=["batch"]), then=RouteTarget(policy="cheapest")),
        RuleConfig(name="all-latency", then=RouteTarget(latency=["low", "medium"])),
        RuleConfig(name="premium", when=RuleWhen(tier=["premium"]), then=RouteTarget(tier="top")),
        RuleConfig(name="never", then=RouteTarget(model="small")),
    ]
    info = request("hi", tier="premium")
    assert [r.name for r in first_rules(rules, analyze(info), info, ts(12))] == ["all-latency", "premium"]


def test_apply_target() -> None:
    entries = list(CAT.values())
    tiers = CAT.tiers
    assert [e.name for e in apply_target(RouteTarget(tier="top"), entries, tiers).preferred] == ["large"]
    assert [e.name for e in apply_target(RouteTarget(tier="bottom"), entries, tiers).preferred] == ["small"]
    n = apply_target(RouteTarget(model="coder"), entries, tiers)
    assert [e.name for e in n.preferred] == ["coder"] and [e.name for e in n.rest] == ["small", "large"]
    n = apply_target(RouteTarget(latency=["low", "medium"]), entries, tiers)
    assert [e.name for e in n.preferred] == ["small", "coder"]
    n = apply_target(RouteTarget(min_tier="medium"), entries, tiers)
    assert [e.name for e in n.preferred] == ["coder", "large"]
    # a tier nobody has left: the nearest tier, stronger first
    n = apply_target(RouteTarget(tier="medium"), [CAT["small"], CAT["large"]], tiers)
    assert [e.name for e in n.preferred] == ["large"] and n.note == "nearest-tier:large"
    # a pinned model that was dropped: keep the candidates and say so
    n = apply_target(RouteTarget(model="coder"), [CAT["large"]], tiers)
    assert [e.name for e in n.preferred] == ["large"] and n.note == "model-unavailable:coder"


def test_filter_with_the_smallest_window_known_gives_the_same_outcome() -> None:
    """Given the catalog's smallest window, requests that can only fail on availability skip the other
    checks: every outcome stays the one the full checks give."""
    entries = list(CAT.values())
    tools = [{"type": "function", "function": {"name": "f", "parameters": {}}}]
    infos = [
        request("hi"),
        request(IMAGE),
        request("x", body={"tools": tools}),
        request("x", body={"response_format": {"type": "json_object"}}),
        request("hi", body={"max_tokens": 15999}),
        request("hi", body={"max_tokens": 10}),
        request("hi", allowed_models=frozenset({"large"})),
        request("word " * 20000),
        request("word " * 15000),  # around small's 16k window: one side each
        request("word " * 14000),
    ]
    for stats in (NoStats(), Down("coder"), Down("small", "large")):
        for info in infos:
            a = analyze(info)
            full = filter_candidates(entries, a, info, stats)
            assert filter_candidates(entries, a, info, stats, CAT.smallest_context) == full
    kept, dropped = filter_candidates(entries, analyze(request("hi")), request("hi"), Down("coder"), 16000)
    assert [e.name for e in kept] == ["small", "large"] and dropped == [("coder", "unavailable")]
