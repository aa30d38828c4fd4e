"""Retention: delete old ledger rows in small batches (short transactions, no long table locks)."""

from __future__ import annotations

import time

from sqlalchemy import delete, select
from sqlalchemy.engine import Engine

from switchman.ledger.tables import calls


def delete_older_than(engine: Engine, cutoff_ts: float, batch: int, pause_s: float = 0.01) -> int:
    """Delete rows with ``ts < cutoff_ts``, ``batch`` rows per transaction; returns the count."""
    total = 0
    while True:
        ids = select(calls.c.id).where(calls.c.ts < cutoff_ts).limit(batch).scalar_subquery()
        with engine.begin() as conn:
            n = conn.execute(delete(calls).where(calls.c.id.in_(ids))).rowcount
        total += n
        if n < batch:
            return total
        time.sleep(pause_s)
