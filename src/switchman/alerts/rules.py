"""Evaluate one alert rule against the ledger (pure reads; no side effects)."""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass

from sqlalchemy.engine import Engine

from switchman.config.observe import AlertRuleConfig
from switchman.ledger.queries import GroupStats, summarize


@dataclass(frozen=True, slots=True)
class Firing:
    rule: str
    kind: str
    value: float
    threshold: float
    message: str


def _stats(engine: Engine, rule: AlertRuleConfig, since: float, until: float) -> GroupStats:
    filters = {k: v for k, v in (("model", rule.model), ("router", rule.router)) if v is not None}
    return summarize(engine, since, until, None, **filters).total


def _strong_share(
    engine: Engine, rule: AlertRuleConfig, since: float, until: float, strong: Set[str]
) -> float:
    filters = {"router": rule.router} if rule.router else {}
    groups = summarize(engine, since, until, "model", **filters).groups
    n = sum(g.requests for g in groups)
    return sum(g.requests for g in groups if g.key in strong) / n if n else 0.0


def evaluate(engine: Engine, rule: AlertRuleConfig, now: float, strong_models: Set[str]) -> Firing | None:
    """The firing of ``rule`` at ``now``, or ``None``."""
    cur_start = now - rule.window_s
    base_start = cur_start - rule.baseline_window_s
    cur = _stats(engine, rule, cur_start, now)
    if cur.requests < rule.min_requests:
        return None
    where = f" ({rule.model or rule.router})" if (rule.model or rule.router) else ""
    window = f"the last {rule.window_s:g} s"
    if rule.kind == "error_rate":
        if cur.error_rate > rule.threshold:
            rate, limit = 100 * cur.error_rate, 100 * rule.threshold
            msg = f"error rate{where} {rate:.1f} % over {window} (limit {limit:g} %)"
            return Firing(rule.name, rule.kind, cur.error_rate, rule.threshold, msg)
        return None
    if rule.kind == "p99_latency":
        p99 = cur.latency_ms.p99 or 0.0
        if p99 > rule.threshold:
            msg = f"p99 latency{where} {p99:.0f} ms over {window} (SLO {rule.threshold:g} ms)"
            return Firing(rule.name, rule.kind, p99, rule.threshold, msg)
        return None
    base = _stats(engine, rule, base_start, cur_start)
    if base.requests < rule.min_requests:
        return None
    if rule.kind == "cost_per_request":
        before, after = base.cost_per_request, cur.cost_per_request
        change = 100 * (after / before - 1) if before else 0.0
        if change > rule.threshold:
            msg = (
                f"cost per request{where} up {change:.1f} % ({before:.6f} → {after:.6f} USD) "
                f"over {window} (limit {rule.threshold:g} %)"
            )
            return Firing(rule.name, rule.kind, change, rule.threshold, msg)
        return None
    if rule.kind == "strong_share":
        before = _strong_share(engine, rule, base_start, cur_start, strong_models)
        after = _strong_share(engine, rule, cur_start, now, strong_models)
        points = 100 * (after - before)
        if points > rule.threshold:
            msg = (
                f"share of requests to the strong tier{where} up {points:.1f} points "
                f"({100 * before:.1f} % → {100 * after:.1f} %) over {window} (limit {rule.threshold:g})"
            )
            return Firing(rule.name, rule.kind, points, rule.threshold, msg)
        return None
    # quality: mean feedback/eval score, down by more than threshold percent
    if cur.quality is None or base.quality is None or cur.rated < rule.min_requests or not base.quality:
        return None
    drop = 100 * (1 - cur.quality / base.quality)
    if drop > rule.threshold:
        msg = (
            f"quality{where} down {drop:.1f} % ({base.quality:.3f} → {cur.quality:.3f}) "
            f"over {window} (limit {rule.threshold:g} %)"
        )
        return Firing(rule.name, rule.kind, drop, rule.threshold, msg)
    return None
