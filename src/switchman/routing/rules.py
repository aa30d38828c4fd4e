"""Constraints (who can serve at all) and overrides (rules from the config). Pure functions.

Constraints drop a model when the counted conversation tokens plus the output bound (with a 5 % margin
for tokenizer differences) do not fit its context window, when the request needs vision, tools or JSON
mode it lacks, when ``max_tokens`` exceeds its output limit, when the key may not use it, or when live
stats say it is unavailable (breaker open, over quota: the hook ``Stats.available`` that #5 fills).

Rules match on the request's declared metadata, key, time of day and analysed features; their
``then`` narrows the candidates (``tier``, ``min_tier``, ``max_tier``, ``latency``), pins a ``model``,
hands over to another ``router``, or changes the scoring ``policy``/``target``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from switchman.catalog import ModelEntry, Stats
from switchman.config.routing import RouteTarget, RuleConfig, RuleWhen
from switchman.routing.analyze import Analysis
from switchman.routing.request import RequestInfo
from switchman.values import value

__all__ = [
    "CONTEXT_MARGIN",
    "RESERVED_OUTPUT",
    "CompiledRule",
    "apply_target",
    "compile_rules",
    "compile_when",
    "constraint_failure",
    "filter_candidates",
    "first_rules",
    "rule_matches",
]

#: Counted tokens are inflated by this share before the context-window check.
CONTEXT_MARGIN = 0.05
#: Output tokens reserved in the context-window check when the request sets no max_tokens.
RESERVED_OUTPUT = 256
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def constraint_failure(
    entry: ModelEntry, analysis: Analysis, request: RequestInfo, stats: Stats
) -> str | None:
    """Why ``entry`` cannot serve this request (a short ASCII reason), or None if it can."""
    if request.allowed_models is not None and entry.name not in request.allowed_models:
        return "key-not-allowed"
    if analysis.needs_vision and not entry.vision:
        return "no-vision"
    if analysis.needs_tools and not entry.tools:
        return "no-tools"
    if analysis.needs_json and not entry.json_mode:
        return "no-json"
    if (
        analysis.max_tokens is not None
        and entry.max_output_tokens is not None
        and analysis.max_tokens > entry.max_output_tokens
    ):
        return f"max_tokens>{entry.max_output_tokens}"
    need = _context_need(analysis)
    if need > entry.context_window:
        return f"context:{need}>{entry.context_window}"
    if not stats.available(entry.name):
        return "unavailable"
    return None


def _context_need(analysis: Analysis) -> int:
    """The context window the request needs: counted tokens with the margin, plus the output bound."""
    return int(analysis.conversation_tokens * (1 + CONTEXT_MARGIN)) + (analysis.max_tokens or RESERVED_OUTPUT)


def filter_candidates(
    entries: Sequence[ModelEntry],
    analysis: Analysis,
    request: RequestInfo,
    stats: Stats,
    min_context: int = 0,
) -> tuple[list[ModelEntry], list[tuple[str, str]]]:
    """(kept, dropped as (model, reason)).

    ``min_context``: a context window no entry is below (the catalog's smallest), when the caller knows
    one. A request that needs nothing special, sets no ``max_tokens``, may use any model and fits that
    window can only be refused for availability, so only that is checked (the same outcome as
    :func:`constraint_failure`, for most requests, with a fraction of its work).
    """
    kept: list[ModelEntry] = []
    dropped: list[tuple[str, str]] = []
    if (
        analysis.max_tokens is None
        and request.allowed_models is None
        and not (analysis.needs_vision or analysis.needs_tools or analysis.needs_json)
        and _context_need(analysis) <= min_context
    ):
        available = stats.available
        for e in entries:
            if available(e.name):
                kept.append(e)
            else:
                dropped.append((e.name, "unavailable"))
        return kept, dropped
    for e in entries:
        why = constraint_failure(e, analysis, request, stats)
        if why is None:
            kept.append(e)
        else:
            dropped.append((e.name, why))
    return kept, dropped


# --- rules -----------------------------------------------------------------------------------------


def _hour_in(hours: tuple[int, int], hour: int) -> bool:
    start, end = hours
    return start <= hour < end if start <= end else hour >= start or hour < end


#: A compiled ``when``: does it hold for (analysis, request, now)?
Matcher = Callable[[Analysis, RequestInfo, float], bool]


def compile_when(when: RuleWhen) -> Matcher:
    """``when`` as one predicate, its conditions checked in the documented order (the first that fails
    ends the check, so a feature a later condition reads, e.g. the language, is not computed for
    nothing). Made once per rule when a router is built (:class:`CompiledRule`), not per request."""
    checks: list[Matcher] = []
    if when.tier:
        tiers = when.tier
        checks.append(lambda a, r, now: a.tier in tiers)
    if when.latency:
        latencies = when.latency
        checks.append(lambda a, r, now: a.latency in latencies)
    if when.task:
        tasks = when.task
        checks.append(lambda a, r, now: a.task in tasks)
    if when.keys:
        keys = when.keys
        checks.append(lambda a, r, now: r.key_id in keys)
    if when.hours_utc is not None:
        hours = when.hours_utc
        checks.append(lambda a, r, now: _hour_in(hours, datetime.fromtimestamp(now, tz=UTC).hour))
    if when.days:
        days = when.days
        checks.append(lambda a, r, now: _DAYS[datetime.fromtimestamp(now, tz=UTC).weekday()] in days)
    if when.min_tokens is not None:
        lo = when.min_tokens
        checks.append(lambda a, r, now: a.conversation_tokens >= lo)
    if when.max_tokens is not None:
        hi = when.max_tokens
        checks.append(lambda a, r, now: a.conversation_tokens <= hi)
    if when.code is not None:
        code = when.code
        checks.append(lambda a, r, now: a.has_code == code)
    if when.language:
        languages = when.language
        checks.append(lambda a, r, now: a.language in languages)
    if when.vision is not None:
        vision = when.vision
        checks.append(lambda a, r, now: a.needs_vision == vision)
    if when.tools is not None:
        tools = when.tools
        checks.append(lambda a, r, now: a.needs_tools == tools)
    if when.json_mode is not None:
        json_mode = when.json_mode
        checks.append(lambda a, r, now: a.needs_json == json_mode)
    if not checks:
        return lambda a, r, now: True
    if len(checks) == 1:
        return checks[0]
    every = tuple(checks)
    return lambda a, r, now: all(c(a, r, now) for c in every)


def rule_matches(when: RuleWhen, analysis: Analysis, request: RequestInfo, now: float) -> bool:
    """All conditions given in ``when`` hold."""
    return compile_when(when)(analysis, request, now)


@dataclass(frozen=True, slots=True)
class CompiledRule:
    rule: RuleConfig
    matches: Matcher


def compile_rules(rules: Sequence[RuleConfig]) -> tuple[CompiledRule, ...]:
    return tuple(CompiledRule(rule, compile_when(rule.when)) for rule in rules)


def first_rules(
    rules: Sequence[RuleConfig] | Sequence[CompiledRule],
    analysis: Analysis,
    request: RequestInfo,
    now: float,
) -> list[RuleConfig]:
    """The matching rules in order, up to and including the first decisive one (``rules`` compiled by
    :func:`compile_rules` when the caller keeps them, as routers do)."""
    out: list[RuleConfig] = []
    for item in rules:
        compiled = item if isinstance(item, CompiledRule) else CompiledRule(item, compile_when(item.when))
        if compiled.matches(analysis, request, now):
            rule = compiled.rule
            out.append(rule)
            if rule.then.decisive:
                break
    return out


@value
class Narrowed:
    """Candidates after a target: ``preferred`` go first, ``rest`` become fallbacks."""

    preferred: list[ModelEntry]
    rest: list[ModelEntry]
    note: str = ""  # why the target was not applied in full


def _tier_rank(name: str, tiers: Sequence[str], entries: Sequence[ModelEntry]) -> int:
    if name == "top":
        return max(e.tier_rank for e in entries)
    if name == "bottom":
        return min(e.tier_rank for e in entries)
    return list(tiers).index(name)


def apply_target(target: RouteTarget, entries: Sequence[ModelEntry], tiers: Sequence[str]) -> Narrowed:
    """Narrow ``entries`` by ``target`` (model / tier / tier bounds / latency); an empty result keeps
    the candidates as they were and says why."""
    if not entries:
        return Narrowed([], [])
    pool = list(entries)
    notes: list[str] = []

    def narrow(keep: Callable[[ModelEntry], bool], label: str) -> None:
        nonlocal pool
        nxt = [e for e in pool if keep(e)]
        if nxt:
            pool = nxt
        else:
            notes.append(f"no-candidate:{label}")

    if target.latency:
        narrow(lambda e: e.latency in target.latency, "latency")
    if target.min_tier is not None:
        lo = _tier_rank(target.min_tier, tiers, entries)
        narrow(lambda e: e.tier_rank >= lo, "min_tier")
    if target.max_tier is not None:
        hi = _tier_rank(target.max_tier, tiers, entries)
        narrow(lambda e: e.tier_rank <= hi, "max_tier")
    if target.tier is not None:
        want = _tier_rank(target.tier, tiers, pool)
        exact = [e for e in pool if e.tier_rank == want]
        if exact:
            pool = exact
        else:  # the nearest tier, stronger first
            best = min(pool, key=lambda e: (abs(e.tier_rank - want), -e.tier_rank)).tier_rank
            pool = [e for e in pool if e.tier_rank == best]
            notes.append(f"nearest-tier:{tiers[best]}")
    if target.model is not None:
        pinned = [e for e in pool if e.name == target.model]
        if pinned:
            pool = pinned
        else:
            notes.append(f"model-unavailable:{target.model}")
    chosen = {e.name for e in pool}
    return Narrowed(pool, [e for e in entries if e.name not in chosen], ";".join(notes))
