"""The scoring step: predicted quality and expected cost per candidate, then an order.

A :class:`QualityPredictor` (the learned router of ``switchman train``) maps the request's embedding
and features to a predicted quality per model. Without one, the documented default is
:func:`prior_quality`: a heuristic prior from the model's tier and the request's ``difficulty``:

    strength(tier) = 0.4 + 0.5 · rank / (tiers − 1)        (weakest 0.40 … strongest 0.90)
    quality        = strength + (1 − strength) · (1 − difficulty)

so every tier is good on easy requests and tiers separate as difficulty grows. With the default target
0.7 and three tiers: the weakest tier clears it up to difficulty 0.5, the middle one up to ≈ 0.86.

Expected cost = counted input tokens × input price + predicted output tokens × output price, where the
predicted output is ``max_tokens`` when smaller, else ``96 + 700 · difficulty`` (or the router's
``expected_output_tokens``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

from switchman.catalog import ModelEntry
from switchman.routing.analyze import Analysis
from switchman.values import value

if TYPE_CHECKING:  # numpy is imported only by routers that embed (see routing/policy.py)
    import numpy as np
    import numpy.typing as npt

__all__ = [
    "QualityPredictor",
    "Scored",
    "order",
    "predicted_output_tokens",
    "prior_quality",
    "score_candidates",
]


class QualityPredictor(Protocol):
    """Predicted quality (0..1) per model for one request; models it does not know are left out."""

    def predict(
        self, embedding: npt.NDArray[np.float32], features: Mapping[str, float]
    ) -> dict[str, float]: ...


@value
class Scored:
    """One candidate with what the scoring step computed for it."""

    entry: ModelEntry
    quality: float
    quality_source: str  # "learned" or "prior"
    cost_usd: float
    output_tokens: int

    @property
    def name(self) -> str:
        return self.entry.name


def prior_quality(tier_rank: int, n_tiers: int, difficulty: float) -> float:
    strength = 0.4 + 0.5 * (tier_rank / (n_tiers - 1) if n_tiers > 1 else 1.0)
    return strength + (1.0 - strength) * (1.0 - difficulty)


def predicted_output_tokens(analysis: Analysis, entry: ModelEntry, configured: int | None = None) -> int:
    return _output_tokens(
        configured if configured is not None else int(96 + 700 * analysis.difficulty),
        analysis.max_tokens,
        entry.max_output_tokens,
    )


def _output_tokens(guess: int, max_tokens: int | None, model_max: int | None) -> int:
    """The smallest of the guess and the bounds that are set (the guess when tied)."""
    if max_tokens is not None and max_tokens < guess:
        guess = max_tokens
    if model_max is not None and model_max < guess:
        guess = model_max
    return guess


def score_candidates(
    entries: Sequence[ModelEntry],
    analysis: Analysis,
    n_tiers: int,
    predicted: Mapping[str, float] | None = None,
    expected_output_tokens: int | None = None,
) -> list[Scored]:
    """Quality and cost of every entry (learned prediction when given for that model, else the prior)."""
    if not entries:
        return []
    # the difficulty is read (and so computed, see routing/analyze.py) only when the prior or the
    # output guess needs it
    needs_prior = predicted is None or any(e.name not in predicted for e in entries)
    difficulty = analysis.difficulty if needs_prior or expected_output_tokens is None else 0.0
    guess = expected_output_tokens if expected_output_tokens is not None else int(96 + 700 * difficulty)
    max_tokens, input_tokens = analysis.max_tokens, analysis.conversation_tokens
    out = []
    for e in entries:
        if predicted is not None and e.name in predicted:
            q, src = float(predicted[e.name]), "learned"
        else:
            q, src = prior_quality(e.tier_rank, n_tiers, difficulty), "prior"
        tokens_out = _output_tokens(guess, max_tokens, e.max_output_tokens)
        out.append(Scored(e, q, src, e.cost_usd(input_tokens, tokens_out), tokens_out))
    return out


def order(
    scored: Sequence[Scored],
    policy: str,
    target: float,
    cost_weight: float,
    configured: Sequence[str] = (),
    positions: Mapping[str, int] | None = None,
) -> tuple[list[Scored], str]:
    """Candidates best-first under ``policy`` and the reason of the first one (``positions``: the index
    of each configured model, when the caller has it already)."""
    if not scored:
        return [], policy
    if policy == "ordered":
        if len(scored) == 1:
            return [scored[0]], "ordered"
        pos = positions if positions is not None else {name: i for i, name in enumerate(configured)}
        n = len(pos)
        return sorted(scored, key=lambda s: pos.get(s.entry.name, n)), "ordered"
    if policy == "quality":
        ranked = sorted(scored, key=lambda s: (-s.entry.tier_rank, -s.quality, s.cost_usd))
        return ranked, "quality:top-tier"
    by_cost = sorted(scored, key=lambda s: (s.cost_usd, -s.entry.tier_rank))
    if policy == "cheapest":
        return by_cost, "cheapest"
    if policy == "utility":
        ranked = sorted(scored, key=lambda s: (-(s.quality - cost_weight * s.cost_usd), s.cost_usd))
        best = ranked[0]
        u = best.quality - cost_weight * best.cost_usd
        return ranked, f"utility:{_src(best)}q={best.quality:.2f},u={u:.2f}"
    # threshold: cheapest that clears the target, then the other clearing ones by cost, then by quality
    clearing = [s for s in by_cost if s.quality >= target]
    rest = sorted((s for s in by_cost if s.quality < target), key=lambda s: (-s.quality, s.cost_usd))
    if clearing:
        best = clearing[0]
        return clearing + rest, f"threshold:{_src(best)}q={best.quality:.2f}>={target:.2f}"
    best = rest[0]
    return rest, f"threshold:{_src(best)}best-q={best.quality:.2f}<{target:.2f}"


def _src(s: Scored) -> str:
    return "" if s.quality_source == "learned" else "prior:"
