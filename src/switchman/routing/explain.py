"""Explanations of a :class:`Decision`: JSON (logs, ``--json``), text (``--explain``) and the short,
header-safe form returned in ``x-switchman-route``."""

from __future__ import annotations

import re
from typing import Any

import orjson

from switchman.catalog import Catalog
from switchman.routing.decision import Decision
from switchman.routing.rounding import round4
from switchman.routing.scoring import Scored
from switchman.routing.trace import RoutedDecision, trace_inputs

__all__ = ["explain_json", "explain_log", "explain_text", "short_route"]

#: Longest ``x-switchman-route`` value.
SHORT_MAX = 160
_UNSAFE = re.compile(r"[^\x21-\x7e ]")


#: short_route's answers by the text they were made from (a request's text is usually one seen before:
#: routers, models and reasons with two-decimal numbers); cleared when full.
_SHORT: dict[str, str] = {}
_SHORT_KEPT = 4096


def short_route(decision: Decision) -> str:
    """``ROUTER;MODEL;REASON`` in printable ASCII, at most :data:`SHORT_MAX` characters."""
    chain = decision.chain
    text = f"{decision.policy};{chain[0].model};{chain[0].reason}" if chain else decision.policy
    short = _SHORT.get(text)
    if short is None:
        short = _short(text)
        if len(_SHORT) >= _SHORT_KEPT:
            _SHORT.clear()
        _SHORT[text] = short
    return short


def _short(text: str) -> str:
    if not (text.isascii() and text.isprintable()):  # printable ASCII is what _UNSAFE keeps
        text = _UNSAFE.sub("?", text)
    text = text.strip()
    return text if len(text) <= SHORT_MAX else text[: SHORT_MAX - 3] + "..."


def explain_json(decision: Decision) -> dict[str, Any]:
    """Everything the decision knows, as JSON-ready values (plain dicts, lists, strings and numbers)."""
    return _explain(decision, None, False)


def explain_log(decision: Decision, route: str | None = None) -> dict[str, Any]:
    """:func:`explain_json` for the request's log line: ``orjson.dumps`` gives the same bytes, built with
    less work. Some values are not plain copies but what orjson serialises the same way: the features
    mapping itself (a dict), tuples for ``steps`` and ``notes``, a pre-encoded ``declared`` when nothing
    was declared. The values are the decision's own: serialise them, do not change them.

    ``route``: ``short_route(decision)`` when the caller has it already.
    """
    return _explain(decision, route, True)


#: ``declared`` when the request declared nothing (most requests), encoded once.
_NOTHING_DECLARED = orjson.Fragment(b'{"tier":null,"latency":null,"task":null}')


def _explain(decision: Decision, route: str | None, log: bool) -> dict[str, Any]:
    """explain_json's dict (``log``: explain_log's). The candidates come from what the trace is built
    from (:func:`~switchman.routing.trace.trace_inputs`) when possible: the log line then never builds
    the trace's objects."""
    chain = decision.chain
    model = chain[0].model if chain else None
    if route is None:
        route = short_route(decision)
    features = decision.features
    if not (log and type(features) is dict):
        features = dict(features)
    dropped = [{"model": m, "reason": r} for m, r in decision.dropped] if decision.dropped else []
    chain_rows = [
        {
            "model": c.model,
            "predicted_quality": c.predicted_quality,
            "expected_cost_usd": c.expected_cost_usd,
            "reason": c.reason,
        }
        for c in chain
    ]
    inputs = trace_inputs(decision) if isinstance(decision, RoutedDecision) else None
    if inputs is not None:
        _, embedder, predictor, a, policy, target, steps, scores, full, n, why, out, catalog, notes = inputs
        candidates = _candidate_rows(full, n, why, out, catalog)
    else:
        trace = decision.trace if isinstance(decision, RoutedDecision) else None
        if trace is None:
            return {
                "router": decision.policy,
                "model": model,
                "route": route,
                "chain": chain_rows,
                "features": features,
                "dropped": dropped,
            }
        a, policy, target, steps, scores = (
            trace.analysis,
            trace.policy,
            trace.target,
            trace.steps,
            trace.route_scores,
        )
        embedder, predictor, notes = trace.embedder, trace.predictor, trace.notes
        candidates = [
            {
                "model": c.model,
                "tier": c.tier,
                "status": c.status,
                "reason": c.reason,
                "predicted_quality": c.quality,
                "quality_source": c.quality_source or None,
                "expected_cost_usd": c.cost_usd,
                "expected_output_tokens": c.output_tokens,
            }
            for c in trace.candidates
        ]
    tier, latency, task = a.tier, a.latency, a.task
    return {
        "router": decision.policy,
        "model": model,
        "route": route,
        "chain": chain_rows,
        "features": features,
        "dropped": dropped,
        "policy": policy,
        "target": target,
        "steps": steps if log else list(steps),
        "route_scores": dict(scores),
        "embedder": embedder,
        "predictor": predictor,
        "language": a.computed_language,  # only when a step needed it
        "declared": (
            _NOTHING_DECLARED
            if log and tier is None and latency is None and task is None
            else {"tier": tier, "latency": latency, "task": task}
        ),
        "candidates": candidates,
        "notes": notes if log else list(notes),
    }


def _candidate_rows(
    full: list[Scored], chain_len: int, primary_reason: str, dropped: list[tuple[str, str]], catalog: Catalog
) -> list[dict[str, Any]]:
    """The JSON rows of the candidates :func:`~switchman.routing.trace.build_route_trace` makes from the
    same arguments (same statuses, reasons and values), without making them."""
    rows = []
    status, reason = "primary", primary_reason
    for i, s in enumerate(full):
        if i:
            status, reason = ("fallback", "fallback") if i < chain_len else ("unused", "beyond max_fallbacks")
        e = s.entry
        rows.append(
            {
                "model": e.name,
                "tier": e.tier,
                "status": status,
                "reason": reason,
                "predicted_quality": round4(s.quality),
                "quality_source": s.quality_source or None,
                "expected_cost_usd": s.cost_usd,
                "expected_output_tokens": s.output_tokens,
            }
        )
    for model, why in dropped:
        rows.append(
            {
                "model": model,
                "tier": catalog[model].tier,
                "status": "dropped",
                "reason": why,
                "predicted_quality": None,
                "quality_source": None,
                "expected_cost_usd": None,
                "expected_output_tokens": None,
            }
        )
    return rows


def _fmt_cost(cost: float | None) -> str:
    return "-" if cost is None else f"${cost:.6f}"


def _fmt_q(q: float | None) -> str:
    return "-" if q is None else f"{q:.2f}"


def explain_text(decision: Decision) -> str:
    """A human-readable explanation (what ``switchman route --explain`` prints)."""
    data = explain_json(decision)
    lines = [f"router   {data['router']}", f"model    {data['model']}", f"route    {data['route']}"]
    if "policy" in data:
        lines.append(f"scoring  {data['policy']} (target {data['target']:.2f})")
        if data["steps"]:
            lines.append(f"steps    {' > '.join(data['steps'])}")
        lines.append(
            f"embedder {data['embedder'] or '-'}   predictor {data['predictor'] or 'heuristic prior'}"
        )
    f = data["features"]
    prompt, convo = int(f.get("prompt_tokens", 0)), int(f.get("conversation_tokens", 0))
    difficulty = f"{f['difficulty']:.2f}" if "difficulty" in f else "-"  # "-": no step needed it
    lines.append(
        f"request  prompt {prompt} tok, conversation {convo} tok, "
        f"turns {int(f.get('turns', 0))}, difficulty {difficulty}"
    )
    needs = [k for k in ("vision", "tools", "json") if f.get(f"needs_{k}")]
    extra = [f"needs {'+'.join(needs)}" if needs else "no special needs"]
    if f.get("has_code"):
        extra.append("code")
    if data.get("language"):
        extra.append(f"lang {data['language']}")
    declared = {k: v for k, v in (data.get("declared") or {}).items() if v}
    if declared:
        extra.append("declared " + ",".join(f"{k}={v}" for k, v in declared.items()))
    lines.append("         " + ", ".join(extra))
    if data.get("route_scores"):
        scores = ", ".join(f"{k} {v:.2f}" for k, v in data["route_scores"].items())
        lines.append(f"routes   {scores}")
    lines.append("")
    lines.append(f"  {'model':<22} {'tier':<8} {'status':<9} {'quality':>7} {'cost':>11}  reason")
    rows = data.get("candidates") or [
        {
            "model": c["model"],
            "tier": "",
            "status": "primary" if i == 0 else "fallback",
            "predicted_quality": c["predicted_quality"],
            "quality_source": None,
            "expected_cost_usd": c["expected_cost_usd"],
            "reason": c["reason"],
        }
        for i, c in enumerate(data["chain"])
    ]
    for r in rows:
        q = _fmt_q(r["predicted_quality"]) + ("*" if r.get("quality_source") == "prior" else " ")
        lines.append(
            f"  {r['model']:<22} {r['tier']:<8} {r['status']:<9} {q:>7} "
            f"{_fmt_cost(r['expected_cost_usd']):>11}  {r['reason']}"
        )
    if any(r.get("quality_source") == "prior" for r in rows):
        lines.append("  * heuristic prior (tier x difficulty); train a router for learned predictions")
    for note in data.get("notes", []):
        lines.append(f"  note: {note}")
    return "\n".join(lines)
