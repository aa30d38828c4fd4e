"""The values routing produces and dispatch consumes: :class:`Candidate` and :class:`Decision`.

They live in their own module so that dispatch depends on these values, not on the policies.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import field

from switchman.values import value


@value
class Candidate:
    """One model that could answer, with why it is in the chain."""

    model: str
    predicted_quality: float | None
    expected_cost_usd: float
    reason: str  # "rule:premium-tier", "learned:q=0.81>=0.75", "fallback", "explicit"


@value
class Decision:
    """A ranked chain of candidates: first = primary, the rest = fallbacks in order."""

    chain: tuple[Candidate, ...]
    policy: str
    features: Mapping[str, float] = field(default_factory=dict)
    #: Candidates dropped by constraints, with the reason (for explanations).
    dropped: tuple[tuple[str, str], ...] = ()

    @property
    def primary(self) -> Candidate:
        return self.chain[0]
