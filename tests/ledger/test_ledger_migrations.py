"""Migrations: from an empty database and from the previous revision, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from ledger_pg import pg_url  # noqa: F401  (fixture)
from sqlalchemy import insert, inspect, select
from sqlalchemy.engine import Engine

from switchman.ledger import db
from switchman.ledger.tables import VERSION_TABLE, calls, metadata

ROW = {
    "id": "req_1",
    "ts": 1.0,
    "requested_model": "switchman/auto",
    "model": "tiny",
    "stream": False,
    "status": 200,
    "truncated": False,
    "cache_hit": False,
    "input_tokens": 10,
    "output_tokens": 5,
    "cached_tokens": 0,
    "usage_estimated": False,
    "cost_usd": 1e-6,
    "baseline_cost_usd": 2e-5,
    "latency_ms": 12.5,
    "n_attempts": 1,
    "fallback": False,
    "chain": [{"model": "tiny", "q": 0.7, "cost": 1e-6, "reason": "cheapest"}],
    "attempts": [],
}


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Engine:
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_url")
    else:
        url = f"sqlite:///{tmp_path / 'ledger.db'}"
    eng = db.make_engine(url)
    request.addfinalizer(eng.dispose)
    return eng


def _diffs(engine: Engine) -> list[object]:
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        return list(compare_metadata(ctx, metadata))


def test_from_empty_database_matches_the_tables(engine: Engine) -> None:
    assert db.current_revision(engine) is None
    db.upgrade(engine)
    assert db.current_revision(engine) == db.head_revision()
    assert _diffs(engine) == [], "migrations and tables.py disagree"
    db.upgrade(engine)  # idempotent
    assert db.current_revision(engine) == db.head_revision()


def test_from_the_previous_revision_keeps_rows(engine: Engine) -> None:
    db.upgrade(engine, "0001")
    with engine.begin() as conn:
        conn.execute(insert(calls), [ROW])
    assert "switchman_alert_events" not in inspect(engine).get_table_names()
    db.upgrade(engine)
    assert "switchman_alert_events" in inspect(engine).get_table_names()
    with engine.connect() as conn:
        row = conn.execute(select(calls)).one()
    assert row.id == "req_1" and row.chain == ROW["chain"] and row.input_tokens == 10
    db.downgrade(engine, "0001")
    assert db.current_revision(engine) == "0001"
    assert "switchman_alert_events" not in inspect(engine).get_table_names()
