"""Scoring: the prior, expected cost and every ordering policy, with plain values."""

from __future__ import annotations

from routing_helpers import catalog, request

from switchman.routing.analyze import analyze
from switchman.routing.scoring import order, predicted_output_tokens, prior_quality, score_candidates

CAT = catalog()
ENTRIES = list(CAT.values())  # small (cheap), coder (medium), large (expensive)


def test_prior_rises_with_tier_and_falls_with_difficulty() -> None:
    assert prior_quality(0, 3, 0.0) == prior_quality(2, 3, 0.0) == 1.0
    assert prior_quality(0, 3, 1.0) < prior_quality(1, 3, 1.0) < prior_quality(2, 3, 1.0)
    assert prior_quality(0, 3, 0.9) < prior_quality(0, 3, 0.1)
    assert round(prior_quality(0, 3, 0.5), 6) == 0.7  # the weakest tier clears 0.7 up to difficulty 0.5


def test_expected_cost_uses_counted_tokens_and_predicted_output() -> None:
    a = analyze(request("hello there", body={"max_tokens": 50}))
    assert predicted_output_tokens(a, CAT["small"]) == 50  # bounded by max_tokens
    scored = score_candidates(ENTRIES, a, 3)
    small = scored[0]
    assert small.cost_usd == CAT["small"].cost_usd(a.conversation_tokens, 50)
    assert small.quality_source == "prior"


def test_learned_predictions_win_over_the_prior() -> None:
    a = analyze(request("hello"))
    scored = score_candidates(ENTRIES, a, 3, predicted={"small": 0.2})
    assert (scored[0].quality, scored[0].quality_source) == (0.2, "learned")
    assert scored[1].quality_source == "prior"


def names(ranked: list) -> list[str]:  # type: ignore[type-arg]
    return [s.name for s in ranked]


def scored_with(qualities: dict[str, float]):  # type: ignore[no-untyped-def]
    return score_candidates(ENTRIES, analyze(request("hello")), 3, predicted=qualities)


def test_threshold_picks_the_cheapest_that_clears_the_target() -> None:
    scored = scored_with({"small": 0.6, "coder": 0.75, "large": 0.9})
    ranked, why = order(scored, "threshold", 0.7, 0.3)
    assert names(ranked) == ["coder", "large", "small"]
    assert why == "threshold:q=0.75>=0.70"
    ranked, _ = order(scored, "threshold", 0.5, 0.3)
    assert names(ranked)[0] == "small"
    ranked, why = order(scored, "threshold", 0.95, 0.3)  # none clears: the best quality
    assert names(ranked) == ["large", "coder", "small"] and why.startswith("threshold:best-q=0.90<0.95")


def test_utility_trades_quality_for_cost() -> None:
    scored = scored_with({"small": 0.6, "coder": 0.75, "large": 0.9})
    assert names(order(scored, "utility", 0.7, 0.0)[0])[0] == "large"  # λ = 0: quality only
    assert names(order(scored, "utility", 0.7, 1e6)[0])[0] == "small"  # large λ (per USD): cost dominates


def test_cheapest_quality_ordered() -> None:
    scored = scored_with({})
    assert names(order(scored, "cheapest", 0.7, 0.3)[0]) == ["small", "coder", "large"]
    assert names(order(scored, "quality", 0.7, 0.3)[0]) == ["large", "coder", "small"]
    assert names(order(scored, "ordered", 0.7, 0.3, ["coder", "large", "small"])[0]) == [
        "coder",
        "large",
        "small",
    ]
