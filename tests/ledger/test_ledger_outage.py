"""The database goes away mid-load: serving continues, records spool, and all appear when it returns."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from ledger_helpers import check_rows_match, ledger_yaml, mixed_load, read_rows, wait_rows
from ledger_pg import pg_url  # noqa: F401  (fixture)
from tcp_proxy import TCPProxy

from helpers import SECRET, free_port, gateway_config, start_gateway, start_sim

SIM = "models:\n  tiny-up: {answer_words: 12}\n  big-up: {answer_words: 30}\n"


def _spooled_lines(data: Path) -> int:
    return sum(len(p.read_bytes().splitlines()) for p in (data / "spool").glob("spool-*"))


def _wait_spooled(data: Path, want: int, timeout: float = 15.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _spooled_lines(data) < want:
        time.sleep(0.05)
    return _spooled_lines(data)


async def test_sqlite_locked_mid_load(tmp_path: Path) -> None:
    data = tmp_path / "data"
    url = f"sqlite:///{data / 'ledger.db'}"
    sim = start_sim(tmp_path, SIM)
    cfg = ledger_yaml(None, str(data), timeout_s=0.3)
    gw = start_gateway(tmp_path, gateway_config(sim.url, cfg), env={"SIM_API_KEY": SECRET})
    try:
        before = await mixed_load(gw.url, 40)
        assert len(wait_rows(url, 40)) == 40
        # the outage: another process holds the write lock on the database
        locker = sqlite3.connect(data / "ledger.db", isolation_level=None, timeout=5)
        locker.execute("BEGIN EXCLUSIVE")
        try:
            during = await mixed_load(gw.url, 60, start=40)  # every request still answered
            assert all(s.status == 200 for s in during)
            assert _wait_spooled(data, 60) == 60
        finally:
            locker.execute("ROLLBACK")
            locker.close()
        after = await mixed_load(gw.url, 20, start=100)
        rows = wait_rows(url, 120, timeout=30)
        check_rows_match(before + during + after, rows)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and list((data / "spool").glob("spool-*")):
            time.sleep(0.05)
        assert not list((data / "spool").glob("spool-*")), "the spool was replayed and removed"
    finally:
        gw.stop()
        sim.stop()


async def test_postgres_cut_off_mid_load(tmp_path: Path, pg_url: str) -> None:  # noqa: F811
    data = tmp_path / "data"
    proxy = TCPProxy("127.0.0.1", 5432, free_port()).start()
    via_proxy = pg_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
    sim = start_sim(tmp_path, SIM)
    cfg = ledger_yaml(via_proxy, str(data), timeout_s=1)
    gw = start_gateway(tmp_path, gateway_config(sim.url, cfg), env={"SIM_API_KEY": SECRET})
    try:
        before = await mixed_load(gw.url, 40)
        assert len(wait_rows(pg_url, 40)) == 40
        proxy.cut()
        during = await mixed_load(gw.url, 60, start=40)
        assert all(s.status == 200 for s in during)
        assert _wait_spooled(data, 60) == 60
        assert len(read_rows(pg_url)) == 40  # nothing reached the database meanwhile
        proxy.restore()
        after = await mixed_load(gw.url, 20, start=100)
        rows = wait_rows(pg_url, 120, timeout=30)
        check_rows_match(before + during + after, rows)
    finally:
        gw.stop()
        sim.stop()
        proxy.stop()


async def test_postgres_connection_killed_between_batches_is_replaced(
    tmp_path: Path,
    pg_url: str,  # noqa: F811
) -> None:
    """The writer keeps one connection; one the server dropped is replaced, not reported as an outage."""
    import asyncio

    import psycopg
    from pydantic import SecretStr

    from switchman.config.observe import LedgerConfig
    from switchman.ledger.writer import LedgerWriter
    from switchman.records import CallRecord

    async def write(w: LedgerWriter, i: int) -> None:
        w.submit(CallRecord(request_id=f"req_{i}", started=time.time(), requested_model="m", stream=False))
        deadline = time.monotonic() + 10
        while w.written < i and time.monotonic() < deadline:
            await asyncio.sleep(0.01)

    cfg = LedgerConfig(data_dir=str(tmp_path), url=SecretStr(pg_url), flush_interval_s=0.02, timeout_s=2)
    w = LedgerWriter(cfg)
    await w.start()
    try:
        await write(w, 1)
        with psycopg.connect(pg_url.replace("+psycopg", ""), autocommit=True) as admin:
            killed = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).fetchone()
        assert killed is not None and killed[0] >= 1
        await write(w, 2)
        assert w.written == 2 and w.db_up
        assert not w.spool.dir.exists()  # never spooled (the spool directory is made on first use)
    finally:
        await w.close()
    assert len(read_rows(pg_url)) == 2
