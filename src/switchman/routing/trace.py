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
from functools import partial
from typing import Literal

from switchman.catalog import Catalog
from switchman.routing.analyze import Analysis
from switchman.routing.decision import Decision
from switchman.routing.rounding import round4
from switchman.routing.scoring import Scored
from switchman.values import value

__all__ = [
    "CandidateTrace",
    "RouteTrace",
    "RoutedDecision",
    "Status",
    "TraceInputs",
    "build_route_trace",
    "trace_inputs",
]

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


#: :func:`build_route_trace`'s arguments, in its order.
TraceInputs = tuple[
    str,  # router
    str | None,  # embedder
    str | None,  # predictor
    Analysis,
    str,  # policy
    float,  # target
    tuple[str, ...],  # steps
    tuple[tuple[str, float], ...],  # route_scores
    list[Scored],  # full
    int,  # chain_len
    str,  # primary_reason
    list[tuple[str, str]],  # dropped
    Catalog,
    tuple[str, ...],  # notes
]


def trace_inputs(decision: RoutedDecision) -> TraceInputs | None:
    """What the decision's trace would be built from, without building it: the arguments of its
    ``build_trace`` when that is ``partial(build_route_trace, ...)`` with all of them given
    positionally (as the pipeline makes it), else None (read :attr:`RoutedDecision.trace` then).

    For the request's log line, which serialises these directly (no :class:`CandidateTrace` objects).
    """
    b = decision.build_trace
    if type(b) is partial and b.func is build_route_trace and len(b.args) == 14 and not b.keywords:
        return b.args
    return None


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
                round4(s.quality),
                s.quality_source,
                s.cost_usd,
                s.output_tokens,
            )
        )
    for model, why in dropped:
        out.append(CandidateTrace(model, catalog[model].tier, "dropped", why))
    return tuple(out)
