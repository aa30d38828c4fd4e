"""The compiled ledger INSERT: more rows than one multi-row statement holds, JSON columns, duplicates;
rows built straight from records match the spool's rows."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import orjson
import pytest
from ledger_pg import pg_url  # noqa: F401  (fixture)
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from switchman.ledger.db import make_engine, upgrade
from switchman.ledger.insert import PreparedInsert
from switchman.ledger.rows import BOOLS, COLUMNS, INTS, from_row, to_row, to_values
from switchman.ledger.tables import calls
from switchman.records import Attempt, CallRecord


def _records(n: int, start: int = 0) -> list[CallRecord]:
    out = []
    for i in range(start, start + n):
        r = CallRecord(
            request_id=f"req_{i:06d}", started=1.7e9 + i, requested_model="switchman/auto", stream=i % 2 == 0
        )
        r.model, r.router = ("tiny" if i % 3 else "big"), "switchman/auto"
        r.chain = [{"model": "tiny", "q": 0.8, "cost": 1e-5, "reason": f"r{i}"}]
        r.attempts = [Attempt("tiny", "sim", True, 12.5, 200)]
        if i % 3 == 1:  # tried twice
            r.attempts.insert(0, Attempt("tiny", "sim", False, 3.0, 502, "upstream_error"))
        r.input_tokens, r.output_tokens, r.cost_usd = i, 2 * i, i * 1e-6
        r.cache_hit, r.key_id = i % 5 == 0, (None if i % 2 else f"key{i}")
        out.append(r)
    return out


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_batches_bigger_than_one_statement_land_whole_and_duplicates_are_skipped(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = f"sqlite:///{tmp_path / 'l.db'}" if backend == "sqlite" else request.getfixturevalue("pg_url")
    engine = make_engine(url)
    upgrade(engine)
    ins = PreparedInsert(engine)
    assert ins.flags == (INTS if backend == "sqlite" else BOOLS)
    first = [to_values(r, False, ins.flags) for r in _records(2_500)]  # statements of 256 rows and less
    with engine.begin() as conn:
        ins.execute(conn, first)
    with engine.begin() as conn:  # a replayed spool: 500 old ids and 300 new ones
        replayed = [from_row(to_row(r, store_bodies=False), ins.flags) for r in _records(300, start=2_500)]
        ins.execute(conn, first[:500] + replayed)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(calls)).scalar_one() == 2_800
        row = conn.execute(select(calls).where(calls.c.id == "req_002043")).one()
        last = conn.execute(select(calls).where(calls.c.id == "req_002790")).one()
        twice = conn.execute(select(calls).where(calls.c.id == "req_002791")).one()
    assert row.model == "big" and row.input_tokens == 2043 and row.output_tokens == 4086
    assert row.chain == [{"model": "tiny", "q": 0.8, "cost": 1e-5, "reason": "r2043"}]
    assert row.attempts[0]["latency_ms"] == 12.5 and row.stream is False and row.key_id is None
    assert row.n_attempts == 1 and row.fallback is True and row.ttft_ms is None  # not the chain's first
    assert last.stream is True and last.cache_hit is True and last.key_id == "key2790"
    assert twice.fallback is False and twice.n_attempts == 2 and twice.cache_hit is False  # one model
    assert twice.attempts[0] == {
        "model": "tiny",
        "provider": "sim",
        "ok": False,
        "latency_ms": 3.0,
        "status": 502,
        "error": "upstream_error",
    }
    assert last.prompt_body is None and last.feedback is None
    engine.dispose()


def test_spool_rows_give_the_same_parameters_as_records() -> None:
    for r in _records(12):
        r.prompt_body, r.response_body = "p", "a"
        if r.input_tokens % 4 == 0:
            r.attempts.append(Attempt("big", "sim", True, 40.0, 200))
        for bodies in (False, True):
            row = to_row(r, store_bodies=bodies)
            assert tuple(row) == COLUMNS
            assert row["attempts"] == [
                {
                    "model": a.model,
                    "provider": a.provider,
                    "ok": a.ok,
                    "latency_ms": a.latency_ms,
                    "status": a.status,
                    "error": a.error,
                }
                for a in r.attempts
            ]
            assert row["fallback"] is (r.model != "tiny" or len({a.model for a in r.attempts}) > 1)
            assert row["prompt_body"] == ("p" if bodies else None)
            for flags in (BOOLS, INTS):
                assert from_row(row, flags) == to_values(r, bodies, flags)
                # through the spool's JSON lines and back
                assert from_row(orjson.loads(orjson.dumps(row)), flags) == to_values(r, bodies, flags)


def test_a_spool_line_from_the_previous_release_replays() -> None:
    line = (
        b'{"id":"req_1","ts":1.7e9,"key_id":null,"tenant":null,"requested_model":"m","router":"r",'
        b'"route":"r;x","model":"m","stream":true,"status":200,"error":null,"truncated":false,'
        b'"cache_hit":false,"input_tokens":3,"output_tokens":4,"cached_tokens":0,"usage_estimated":false,'
        b'"cost_usd":0.1,"baseline_cost_usd":0.2,"latency_ms":5.0,"ttft_ms":null,"n_attempts":1,'
        b'"fallback":false,"chain":[],"attempts":[{"model":"m","provider":"p","ok":true,"latency_ms":5.0,'
        b'"status":200,"error":null}],"feedback":null,"prompt_body":null,"response_body":null}'
    )
    values = from_row(orjson.loads(line), INTS)
    assert len(values) == len(COLUMNS) and values[8] == 1 and values[11] == 0
    assert values[23] == "[]" and orjson.loads(values[24])[0]["provider"] == "p"


def test_none_binds_as_null_with_the_driver_adapter(tmp_path: Path) -> None:
    PreparedInsert(make_engine(f"sqlite:///{tmp_path / 'l.db'}"))  # registers it
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (a, b)")
    conn.execute("INSERT INTO t VALUES (?, ?)", (None, 1))
    assert conn.execute("SELECT a IS NULL, typeof(a), typeof(b) FROM t").fetchone() == (1, "null", "integer")


def test_a_locked_sqlite_database_raises_sqlalchemy_errors(tmp_path: Path) -> None:
    """The writer spools a batch on SQLAlchemyError: driver errors must arrive as such."""
    engine = make_engine(f"sqlite:///{tmp_path / 'l.db'}", busy_timeout_s=0.05)
    upgrade(engine)
    ins = PreparedInsert(engine)
    locker = sqlite3.connect(tmp_path / "l.db", isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(OperationalError, match="locked"), engine.begin() as conn:
            ins.execute(conn, [to_values(r, False, ins.flags) for r in _records(3)])
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    with engine.begin() as conn:  # and the connection is usable afterwards
        ins.execute(conn, [to_values(r, False, ins.flags) for r in _records(3)])
        assert conn.execute(select(func.count()).select_from(calls)).scalar_one() == 3
    engine.dispose()
