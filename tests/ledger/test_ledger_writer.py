"""The writer and spool in-process, on a real SQLite file: batching, bodies, spool bounds, retention."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from sqlalchemy import func, select

from switchman.config.observe import LedgerConfig
from switchman.ledger import db
from switchman.ledger.retention import delete_older_than
from switchman.ledger.spool import Spool
from switchman.ledger.tables import calls
from switchman.ledger.writer import LedgerWriter
from switchman.records import Attempt, CallRecord


def record(i: int, *, ts: float | None = None, router: str | None = "switchman/auto") -> CallRecord:
    r = CallRecord(
        request_id=f"req_{i}", started=ts or time.time(), requested_model="switchman/auto", stream=False
    )
    r.router, r.model, r.input_tokens, r.output_tokens = router, "tiny", 10 + i, 3
    r.chain = [{"model": "big", "q": 0.9, "cost": 1e-5, "reason": "x"}, {"model": "tiny", "q": 0.5}]
    r.attempts = [Attempt("big", "p", False, 3.0, 503, "UpstreamError"), Attempt("tiny", "p", True, 4.0)]
    r.prompt_body, r.response_body = "secret prompt", "answer"
    return r


def count(writer: LedgerWriter) -> int:
    with writer.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(calls)).scalar_one())


async def test_batches_are_written_and_bodies_stay_off(tmp_path: Path) -> None:
    w = LedgerWriter(LedgerConfig(data_dir=str(tmp_path), flush_interval_s=0.02, batch_size=7))
    await w.start()
    for i in range(50):
        w.submit(record(i))
    await w.close()
    assert w.written == 50 and w.queue_depth == 0
    with w.engine.connect() as conn:
        row = conn.execute(select(calls).where(calls.c.id == "req_3")).one()
    assert row.fallback is True and row.n_attempts == 2 and row.input_tokens == 13
    assert row.prompt_body is None and row.response_body is None


async def test_records_arriving_during_a_write_wait_for_the_next_batch(tmp_path: Path) -> None:
    """A flush writes what was queued when it started: under steady traffic, the few records that came
    in during a write wait for a full batch (or the interval) instead of a transaction of their own."""
    w = LedgerWriter(LedgerConfig(data_dir=str(tmp_path), flush_interval_s=30.0, batch_size=10))
    await w.start()
    write, late = w._write, [record(i) for i in range(100, 103)]

    def write_while_traffic_arrives(rows: list[tuple[object, ...]]) -> None:
        while late:  # fewer than a batch: submit does not wake the writer
            w.submit(late.pop())
        write(rows)

    w._write = write_while_traffic_arrives  # type: ignore[method-assign]
    for i in range(10):
        w.submit(record(i))
    for _ in range(300):
        if w.written:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.2)
    assert w.written == 10 and w.queue_depth == 3
    await w.close()  # closing writes what is left
    assert w.written == 13 and w.queue_depth == 0 and count(w) == 13


async def test_bodies_stored_only_for_enabled_routers(tmp_path: Path) -> None:
    cfg = LedgerConfig(data_dir=str(tmp_path), flush_interval_s=0.02, store_bodies_routers=["r/keep"])
    w = LedgerWriter(cfg)
    await w.start()
    w.submit(record(1, router="r/keep"))
    w.submit(record(2, router="r/other"))
    await w.close()
    with w.engine.connect() as conn:
        bodies = dict(conn.execute(select(calls.c.id, calls.c.prompt_body)).all())
    assert bodies == {"req_1": "secret prompt", "req_2": None}


async def test_unreachable_database_spools_then_replays_without_duplicates(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("not a directory")
    cfg = LedgerConfig(
        data_dir=str(tmp_path), flush_interval_s=0.02, url=f"sqlite:///{blocker}/ledger.db", timeout_s=0.1
    )
    w = LedgerWriter(cfg)
    await w.start()  # the gateway starts even though the database cannot be opened
    for i in range(30):
        w.submit(record(i))
    await asyncio.sleep(0.3)
    assert not w.db_up and w.written == 0
    assert w.spool.pending_rows == 30
    await w.close()
    # "the database returns": a writer with a working URL and the same spool directory replays it
    good = LedgerConfig(data_dir=str(tmp_path), flush_interval_s=0.02)
    w2 = LedgerWriter(good)
    await w2.start()
    w2.submit(record(5))  # a duplicate id: replays and retries never double-count
    for _ in range(100):
        if not w2.spool.has_pending():
            break
        await asyncio.sleep(0.02)
    await w2.close()
    assert count(w2) == 30
    assert not list((tmp_path / "spool").glob("spool-*"))


def test_spool_is_bounded_and_counts_drops(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool", max_bytes=2000)
    rows = [{"id": f"req_{i}", "pad": "x" * 100} for i in range(40)]
    kept = spool.append(rows)
    assert 0 < kept < 40 and spool.dropped == 40 - kept
    assert spool.size_bytes() <= 2000
    spool.close()
    claimed = list(spool.claim())
    assert sum(len(b) for p in claimed for b in Spool.read(p, 5)) == kept


async def test_retention_deletes_in_batches(tmp_path: Path) -> None:
    w = LedgerWriter(LedgerConfig(data_dir=str(tmp_path), flush_interval_s=0.02))
    await w.start()
    old = time.time() - 10 * 86400
    for i in range(25):
        w.submit(record(i, ts=old))
    for i in range(25, 30):
        w.submit(record(i))
    await w.close()
    deleted = delete_older_than(w.engine, time.time() - 86400, batch=4, pause_s=0)
    assert deleted == 25 and count(w) == 5


def test_default_url_is_sqlite_in_the_data_dir(tmp_path: Path) -> None:
    url = db.ledger_url(LedgerConfig(data_dir=str(tmp_path / "d")))
    assert url == f"sqlite:///{tmp_path / 'd' / 'ledger.db'}"
    assert (tmp_path / "d").is_dir()
    pg = db.ledger_url(LedgerConfig.model_validate({"url": "postgresql://u@h/db"}))
    assert pg == "postgresql+psycopg://u@h/db"
