"""What the pipeline saw and did for one request, kept beside the :class:`Decision` for explanations.

:class:`RoutedDecision` is a :class:`Decision` (dispatch and serving use it unchanged) that also carries
a :class:`RouteTrace`: the analysis (with the request's embedding), every candidate's predicted
quality, expected cost and status, the rules and routes that fired, and the scoring used. The trace is
built when first read (explanations, the request's log line) from what the pipeline kept, so a request
whose explanation nobody reads does not pay for it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import field
from typing import Literal

from switchman.catalog import Catalog
from switchman.routing.analyze import Analysis
from switchman.routing.decision import Decision
from switchman.routing.scoring import Scored
from switchman.routing.values import value

__all__ = ["CandidateTrace", "RouteTrace", "RoutedDecision", "Status", "build_route_trace"]

Status = Literal["primary", "fallback", "unused", "dropped"]


@value
class CandidateTrace:
    model: str
    tier: str
    status: Status
    reason: str  # why it is where it is ("no-vision", "cheapest", "fallback", "beyond max_fallbacks")
    quality: float | None = None
    quality_source: str = ""  # "learned" | "prior" | ""
    cost_usd: float | None = None
    output_tokens: int | None = None


@value
class RouteTrace:
    router: str
    analysis: Analysis
    policy: str  # the scoring policy finally used
    target: float
    #: Rules and routes that fired, in order ("rule:premium", "route:quick-check=0.83").
    steps: tuple[str, ...]
    #: Every semantic route's similarity (empty when the router has none or a rule decided first).
    route_scores: tuple[tuple[str, float], ...]
    candidates: tuple[CandidateTrace, ...]
    embedder: str | None
    predictor: str | None
    notes: tuple[str, ...] = ()


@value
class RoutedDecision(Decision):
    #: Builds the trace (called once, on the first read of :attr:`trace`).
    build_trace: Callable[[], RouteTrace] | None = field(default=None, repr=False, compare=False)
    _trace: RouteTrace | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def trace(self) -> RouteTrace | None:
        trace = self._trace
        if trace is None and self.build_trace is not None:
            trace = self.build_trace()
            object.__setattr__(self, "_trace", trace)  # a cache of a value derived from the fields
        return trace


def build_route_trace(
    router: str,
    embedder: str | None,
    predictor: str | None,
    analysis: Analysis,
    policy: str,
    target: float,
    steps: tuple[str, ...],
    route_scores: tuple[tuple[str, float], ...],
    full: list[Scored],
    chain_len: int,
    primary_reason: str,
    dropped: list[tuple[str, str]],
    catalog: Catalog,
    notes: tuple[str, ...],
) -> RouteTrace:
    """The trace of a pipeline run: ``full`` is every scored candidate best-first, the first
    ``chain_len`` of them in the chain (what ``RoutedDecision.build_trace`` calls)."""
    return RouteTrace(  # (positional: this runs for every request's log line)
        router,
        analysis,
        policy,
        target,
        steps,
        route_scores,
        _trace_candidates(full, chain_len, primary_reason, dropped, catalog),
        embedder,
        predictor,
        notes,
    )


def _trace_candidates(
    full: list[Scored],
    chain_len: int,
    primary_reason: str,
    dropped: list[tuple[str, str]],
    catalog: Catalog,
) -> tuple[CandidateTrace, ...]:
    out: list[CandidateTrace] = []
    for i, s in enumerate(full):
        status: Status
        if i == 0:
            status, reason = "primary", primary_reason
        elif i < chain_len:
            status, reason = "fallback", "fallback"
        else:
            status, reason = "unused", "beyond max_fallbacks"
        out.append(
            CandidateTrace(
                s.name,
                s.entry.tier,
                status,
                reason,
                round(s.quality, 4),
                s.quality_source,
                s.cost_usd,
                s.output_tokens,
            )
        )
    for model, why in dropped:
        out.append(CandidateTrace(model, catalog[model].tier, "dropped", why))
    return tuple(out)
