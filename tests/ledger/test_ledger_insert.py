"""The compiled ledger INSERT: more rows than one multi-row statement holds, JSON columns, duplicates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ledger_pg import pg_url  # noqa: F401  (fixture)
from sqlalchemy import func, select

from switchman.ledger.db import make_engine, upgrade
from switchman.ledger.insert import PreparedInsert
from switchman.ledger.rows import to_row
from switchman.ledger.tables import calls
from switchman.records import Attempt, CallRecord


def _rows(n: int, start: int = 0) -> list[dict[str, Any]]:
    out = []
    for i in range(start, start + n):
        r = CallRecord(
            request_id=f"req_{i:06d}", started=1.7e9 + i, requested_model="switchman/auto", stream=i % 2 == 0
        )
        r.model, r.router = ("tiny" if i % 3 else "big"), "switchman/auto"
        r.chain = [{"model": "tiny", "q": 0.8, "cost": 1e-5, "reason": f"r{i}"}]
        r.attempts = [Attempt("tiny", "sim", True, 12.5, 200)]
        r.input_tokens, r.output_tokens, r.cost_usd = i, 2 * i, i * 1e-6
        out.append(to_row(r, store_bodies=False))
    return out


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_batches_bigger_than_one_statement_land_whole_and_duplicates_are_skipped(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = f"sqlite:///{tmp_path / 'l.db'}" if backend == "sqlite" else request.getfixturevalue("pg_url")
    engine = make_engine(url)
    upgrade(engine)
    ins = PreparedInsert(engine)
    first = _rows(2_500)  # many statements of 256 rows and the smaller sizes
    with engine.begin() as conn:
        ins.execute(conn, first)
    with engine.begin() as conn:  # a replayed spool: 500 old ids and 300 new ones
        ins.execute(conn, first[:500] + _rows(300, start=2_500))
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(calls)).scalar_one() == 2_800
        row = conn.execute(select(calls).where(calls.c.id == "req_002043")).one()
    assert row.model == "big" and row.input_tokens == 2043 and row.output_tokens == 4086
    assert row.chain == [{"model": "tiny", "q": 0.8, "cost": 1e-5, "reason": "r2043"}]
    assert row.attempts[0]["latency_ms"] == 12.5 and row.stream is False
    engine.dispose()
