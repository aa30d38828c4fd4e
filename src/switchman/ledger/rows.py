"""CallRecord → ledger row (a plain dict with JSON-ready values)."""

from __future__ import annotations

from typing import Any

from switchman.records import CallRecord


def to_row(r: CallRecord, *, store_bodies: bool) -> dict[str, Any]:
    served_first = bool(r.chain) and r.model is not None and r.model != r.chain[0].get("model")
    return {
        "id": r.request_id,
        "ts": r.started,
        "key_id": r.key_id,
        "tenant": r.tenant,
        "requested_model": r.requested_model,
        "router": r.router,
        "route": r.route,
        "model": r.model,
        "stream": r.stream,
        "status": r.status,
        "error": r.error,
        "truncated": r.truncated,
        "cache_hit": r.cache_hit,
        "input_tokens": r.input_tokens,
        "output_tokens": r.output_tokens,
        "cached_tokens": r.cached_tokens,
        "usage_estimated": r.usage_estimated,
        "cost_usd": r.cost_usd,
        "baseline_cost_usd": r.baseline_cost_usd,
        "latency_ms": r.latency_ms,
        "ttft_ms": r.ttft_ms,
        "n_attempts": len(r.attempts),
        "fallback": served_first or len({a.model for a in r.attempts}) > 1,
        "chain": r.chain,
        "attempts": [
            {
                "model": a.model,
                "provider": a.provider,
                "ok": a.ok,
                "latency_ms": a.latency_ms,
                "status": a.status,
                "error": a.error,
            }
            for a in r.attempts
        ],
        "feedback": r.feedback,
        "prompt_body": r.prompt_body if store_bodies else None,
        "response_body": r.response_body if store_bodies else None,
    }
