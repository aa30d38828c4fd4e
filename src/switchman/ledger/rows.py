"""CallRecord → ledger row: a tuple of driver parameters (the write path) or a dict (the spool's format).

:func:`to_values` is what the writer runs for every request, so it builds the parameter tuple straight
from the record, with no intermediate dict: the JSON columns are encoded to text with orjson and the
booleans are mapped through ``flags`` (``(0, 1)`` for SQLite, whose driver binds exact ints without the
adaptation lookup it does for ``bool``; ``(False, True)`` for PostgreSQL's boolean columns).

The spool keeps readable JSON lines of :func:`to_row` dicts (column name → value, JSON columns nested);
:func:`from_row` turns one back into parameters when the spool is replayed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from sqlalchemy import JSON, Boolean

from switchman.ledger.tables import calls
from switchman.records import Attempt, CallRecord

#: The ``calls`` columns in table order: the order of :func:`to_values`.
COLUMNS: tuple[str, ...] = tuple(str(c.name) for c in calls.columns)  # plain str: orjson keys
JSON_COLUMNS = frozenset(str(c.name) for c in calls.columns if isinstance(c.type, JSON))
FLAG_COLUMNS = frozenset(str(c.name) for c in calls.columns if isinstance(c.type, Boolean))

#: How booleans are bound: as Python bools, or as the ints 0/1.
Flags = tuple[Any, Any]
BOOLS: Flags = (False, True)
INTS: Flags = (0, 1)


def _attempt(a: Attempt) -> dict[str, Any]:
    # a dict is encoded faster than orjson's dataclass support does the Attempt itself (0.6 vs 0.9 µs)
    return {
        "model": a.model,
        "provider": a.provider,
        "ok": a.ok,
        "latency_ms": a.latency_ms,
        "status": a.status,
        "error": a.error,
    }


def _fallback(r: CallRecord) -> bool:
    chain, attempts = r.chain, r.attempts
    if chain and r.model is not None and r.model != chain[0].get("model"):
        return True
    return len(attempts) > 1 and len({a.model for a in attempts}) > 1


def to_values(r: CallRecord, store_bodies: bool, flags: Flags = BOOLS) -> tuple[Any, ...]:
    """One row's driver parameters, in :data:`COLUMNS` order."""
    dumps = orjson.dumps
    return (
        r.request_id,
        r.started,
        r.key_id,
        r.tenant,
        r.requested_model,
        r.router,
        r.route,
        r.model,
        flags[r.stream],
        r.status,
        r.error,
        flags[r.truncated],
        flags[r.cache_hit],
        r.input_tokens,
        r.output_tokens,
        r.cached_tokens,
        flags[r.usage_estimated],
        r.cost_usd,
        r.baseline_cost_usd,
        r.latency_ms,
        r.ttft_ms,
        len(r.attempts),
        flags[_fallback(r)],
        dumps(r.chain).decode(),
        dumps([_attempt(a) for a in r.attempts]).decode(),
        r.feedback,
        r.prompt_body if store_bodies else None,
        r.response_body if store_bodies else None,
    )


def to_row(r: CallRecord, *, store_bodies: bool) -> dict[str, Any]:
    """The spool's form of a row: a dict with JSON-ready values (JSON columns nested, real booleans)."""
    row = dict(zip(COLUMNS, to_values(r, store_bodies), strict=True))
    for k in JSON_COLUMNS:
        row[k] = orjson.loads(row[k])
    return row


def from_row(row: Mapping[str, Any], flags: Flags = BOOLS) -> tuple[Any, ...]:
    """A :func:`to_row` dict (e.g. read back from the spool) → driver parameters, as :func:`to_values`."""
    return tuple(
        orjson.dumps(row[k]).decode()
        if k in JSON_COLUMNS
        else flags[bool(row[k])]
        if k in FLAG_COLUMNS
        else row[k]
        for k in COLUMNS
    )
