"""Explanations of a :class:`Decision`: JSON (logs, ``--json``), text (``--explain``) and the short,
header-safe form returned in ``x-switchman-route``."""

from __future__ import annotations

import re
from typing import Any

from switchman.routing.decision import Decision
from switchman.routing.trace import RoutedDecision

__all__ = ["explain_json", "explain_text", "short_route"]

#: Longest ``x-switchman-route`` value.
SHORT_MAX = 160
_UNSAFE = re.compile(r"[^\x21-\x7e ]")


def short_route(decision: Decision) -> str:
    """``ROUTER;MODEL;REASON`` in printable ASCII, at most :data:`SHORT_MAX` characters."""
    chain = decision.chain
    text = f"{decision.policy};{chain[0].model};{chain[0].reason}" if chain else decision.policy
    if not (text.isascii() and text.isprintable()):  # printable ASCII is what _UNSAFE keeps
        text = _UNSAFE.sub("?", text)
    text = text.strip()
    return text if len(text) <= SHORT_MAX else text[: SHORT_MAX - 3] + "..."


def explain_json(decision: Decision) -> dict[str, Any]:
    """Everything the decision knows, as JSON-ready values."""
    chain = decision.chain
    trace = decision.trace if isinstance(decision, RoutedDecision) else None
    head: dict[str, Any] = {
        "router": decision.policy,
        "model": chain[0].model if chain else None,
        "route": short_route(decision),
        "chain": [
            {
                "model": c.model,
                "predicted_quality": c.predicted_quality,
                "expected_cost_usd": c.expected_cost_usd,
                "reason": c.reason,
            }
            for c in chain
        ],
        "features": dict(decision.features),
        "dropped": [{"model": m, "reason": r} for m, r in decision.dropped],
    }
    if trace is None:
        return head
    a = trace.analysis
    return {
        **head,
        "policy": trace.policy,
        "target": trace.target,
        "steps": list(trace.steps),
        "route_scores": dict(trace.route_scores),
        "embedder": trace.embedder,
        "predictor": trace.predictor,
        "language": a.computed_language,  # only when a step needed it
        "declared": {"tier": a.tier, "latency": a.latency, "task": a.task},
        "candidates": [
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
        ],
        "notes": list(trace.notes),
    }


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
