"""Router config: references in rules and routes are checked when the config is loaded."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from routing_helpers import config


def test_valid_rules_and_routes_load() -> None:
    cfg = config(
        {
            "a": {
                "policy": "utility",
                "rules": [
                    {"name": "p", "when": {"tier": ["premium"], "json": True}, "then": {"tier": "top"}}
                ],
                "routes": [{"name": "c", "examples": ["x"], "then": {"router": "b"}}],
            },
            "b": {"policy": "quality"},
        }
    )
    assert cfg.routers["a"].rules[0].when.json_mode is True
    assert cfg.routers["a"].routes[0].threshold == 0.75
    assert cfg.routers["a"].cost_weight is None


@pytest.mark.parametrize(
    ("then", "message"),
    [
        ({"model": "nope"}, "unknown model 'nope'"),
        ({"tier": "huge"}, "'huge' is not one of tiers"),
        ({"min_tier": "huge"}, "'huge' is not one of tiers"),
        ({"router": "missing"}, "unknown or self router 'missing'"),
        ({"router": "a"}, "unknown or self router 'a'"),
    ],
)
def test_bad_references_are_rejected(then: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        config({"a": {"rules": [{"name": "r", "then": then}]}})


def test_bad_values_are_rejected() -> None:
    with pytest.raises(ValidationError, match="hours_utc"):
        config({"a": {"rules": [{"name": "r", "when": {"hours_utc": [22, 30]}, "then": {"tier": "top"}}]}})
    with pytest.raises(ValidationError):
        config({"a": {"routes": [{"name": "r", "examples": [], "then": {"tier": "top"}}]}})
    with pytest.raises(ValidationError):
        config({"a": {"policy": "random"}})
