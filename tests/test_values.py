"""``@value`` classes behave as frozen dataclasses do for everything but run-time assignment."""

from __future__ import annotations

import dataclasses

from switchman.routing.decision import Candidate, Decision
from switchman.values import value


@value
class Pair:
    name: str
    weight: float = 1.0


def test_values_compare_and_hash_by_fields_like_frozen_dataclasses() -> None:
    assert Pair("a") == Pair("a", 1.0) and Pair("a") != Pair("a", 2.0)
    assert hash(Pair("a")) == hash(Pair("a", 1.0))
    assert len({Candidate("m", 0.5, 0.1, "x"), Candidate("m", 0.5, 0.1, "x")}) == 1


def test_values_have_slots_and_support_replace() -> None:
    p = Pair("a")
    assert not hasattr(p, "__dict__")
    assert dataclasses.is_dataclass(p) and dataclasses.replace(p, weight=3.0) == Pair("a", 3.0)
    d = Decision(chain=(Candidate("m", None, 0.0, "explicit"),), policy="explicit")
    assert dataclasses.replace(d, policy="p").chain == d.chain
