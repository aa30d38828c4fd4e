"""Semantic routes: matching by similarity, per-route thresholds, threshold fitting."""

from __future__ import annotations

import numpy as np

from switchman.config.routing import RouteTarget, SemanticRouteConfig
from switchman.routing.embed import HashingEmbedder
from switchman.routing.semantic import SemanticIndex, fit_thresholds

EMB = HashingEmbedder()
CODE = SemanticRouteConfig(
    name="code",
    examples=["write a python function", "fix this python bug", "refactor this javascript class"],
    threshold=0.3,
    then=RouteTarget(model="coder"),
)
TRANSLATE = SemanticRouteConfig(
    name="translate",
    examples=["translate this sentence to french", "translate this paragraph into german"],
    threshold=0.3,
    then=RouteTarget(tier="bottom"),
)
INDEX = SemanticIndex([CODE, TRANSLATE], EMB)


def vec(text: str) -> np.ndarray:  # type: ignore[type-arg]
    return EMB.embed([text])[0]


def test_best_route_above_its_threshold_wins() -> None:
    m = INDEX.match(vec("write a python function that sorts a list"))
    assert m.route is CODE and m.similarity > 0.3
    assert [name for name, _ in m.scores] == ["code", "translate"]
    assert dict(m.scores)["code"] > dict(m.scores)["translate"]
    m = INDEX.match(vec("translate this sentence to spanish"))
    assert m.route is TRANSLATE


def test_nothing_matches_below_threshold() -> None:
    m = INDEX.match(vec("the weather in lisbon during autumn"))
    assert m.route is None
    strict = INDEX.match(vec("write a python function that sorts a list"), thresholds=[0.99, 0.99])
    assert strict.route is None


def test_similarity_is_the_max_over_examples() -> None:
    sims = INDEX.similarities(vec("fix this python bug"))
    assert abs(float(sims[0]) - 1.0) < 1e-5


def test_fit_thresholds_separates_labelled_examples() -> None:
    texts = [
        "write a python function to parse dates",
        "fix this python bug in my parser",
        "refactor this javascript class please",
        "translate this sentence to italian",
        "translate this paragraph into spanish",
        "what is the weather like in lisbon",
        "tell me a story about dragons",
    ]
    labels = ["code", "code", "code", "translate", "translate", None, None]
    fits = {f.route: f for f in fit_thresholds(INDEX, EMB.embed(texts), labels)}
    assert fits["code"].f1 == 1.0 and fits["translate"].f1 == 1.0
    assert fits["code"].positives == 3
    # the fitted thresholds reproduce the labels
    thresholds = [fits["code"].threshold, fits["translate"].threshold]
    got = [INDEX.match(vec(t), thresholds).route for t in texts]
    assert [r.name if r else None for r in got] == labels


def test_fit_keeps_threshold_for_routes_without_examples() -> None:
    fits = fit_thresholds(INDEX, EMB.embed(["hello"]), [None])
    assert [(f.route, f.threshold, f.positives) for f in fits] == [("code", 0.3, 0), ("translate", 0.3, 0)]


def test_thresholds_compare_as_float32_similarities() -> None:
    # a similarity equal to its threshold (in float32) clears it; one float32 step below does not
    text = "write a python function that sorts a list"
    sim = float(INDEX.similarities(vec(text))[0])
    at = SemanticRouteConfig(name="code", examples=CODE.examples, threshold=sim, then=CODE.then)
    above = SemanticRouteConfig(
        name="code",
        examples=CODE.examples,
        threshold=float(np.nextafter(np.float32(sim), np.float32(2))),
        then=CODE.then,
    )
    assert SemanticIndex([at], EMB).match(vec(text)).route is at
    assert SemanticIndex([above], EMB).match(vec(text)).route is None


def test_a_route_without_examples_never_matches() -> None:
    # the config requires examples; the index still copes with a route built without them
    empty = SemanticRouteConfig.model_construct(
        name="empty", examples=[], threshold=-1.0, then=RouteTarget(tier="top")
    )
    m = SemanticIndex([empty, CODE], EMB).match(vec("fix this python bug"))
    assert m.route is CODE
    assert m.scores[0] == ("empty", -1.0)
