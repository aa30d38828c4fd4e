"""Ledger benchmarks: the cost of ``submit`` on the hot path, the whole CPU cost per record (row building
+ insert, in the writer's thread), and the sustained write rate into SQLite and PostgreSQL.

    .venv/bin/python bench/ledger_write.py                       # SQLite in a temp dir
    .venv/bin/python bench/ledger_write.py --pg postgresql://postgres@127.0.0.1:5432/test

For PostgreSQL a throw-away database is created next to the given one and dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import tempfile
import time
from pathlib import Path

from pydantic import SecretStr

from switchman.config.observe import LedgerConfig
from switchman.ledger.writer import LedgerWriter
from switchman.records import Attempt, CallRecord
from switchman.serving.metrics import Metrics


def make_records(n: int, tag: str) -> list[CallRecord]:
    out = []
    now = time.time()
    for i in range(n):
        r = CallRecord(
            request_id=f"req_{tag}_{i}", started=now, requested_model="switchman/auto", stream=i % 2 == 0
        )
        r.router, r.route, r.model = "switchman/auto", "switchman/auto;cheapest", "tiny"
        r.chain = [
            {"model": "tiny", "q": 0.81, "cost": 1.2e-5, "reason": "cheapest"},
            {"model": "big", "q": 0.95, "cost": 3.1e-4, "reason": "fallback"},
        ]
        r.attempts = [Attempt("tiny", "local", True, 41.5, 200)]
        r.input_tokens, r.output_tokens, r.cost_usd, r.baseline_cost_usd = 120, 48, 4.7e-5, 1.08e-3
        r.latency_ms, r.ttft_ms = 52.0, 21.0
        out.append(r)
    return out


def submit_cost(n: int = 200_000) -> float:
    """Microseconds per ``submit`` (the only ledger work on the request path)."""
    w = LedgerWriter(LedgerConfig(batch_size=10**9))  # never wakes the flusher during the loop
    recs = make_records(n, "s")
    t0 = time.perf_counter()
    for r in recs:
        w.submit(r)
    return (time.perf_counter() - t0) / n * 1e6


def metrics_cost(n: int = 50_000) -> tuple[float, float]:
    """Microseconds per metrics ``submit`` and per record when the counters are updated (off the path)."""
    m = Metrics()
    recs = make_records(n, "m")
    t0 = time.perf_counter()
    for r in recs:
        m.submit(r)
    t1 = time.perf_counter()
    m.drain()
    t2 = time.perf_counter()
    return (t1 - t0) / n * 1e6, (t2 - t1) / n * 1e6


async def write_rate(cfg: LedgerConfig, n: int) -> tuple[float, float]:
    """(records/s sustained, CPU ms per record incl. the writer thread) for ``n`` records."""
    w = LedgerWriter(cfg)
    await w.start()
    recs = make_records(n, secrets.token_hex(3))
    c0, t0 = time.process_time(), time.perf_counter()
    for i in range(0, n, 1000):  # arriving in bursts, as from a busy gateway
        for r in recs[i : i + 1000]:
            w.submit(r)
        await asyncio.sleep(0)
    while w.written < n:
        await asyncio.sleep(0.005)
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    await w.close()
    return n / dt, cpu / n * 1000


def pg_database(admin_url: str) -> tuple[str, str]:
    import psycopg

    name = "switchman_bench_" + secrets.token_hex(4)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    return name, f"{base}/{name}"


def drop_pg(admin_url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--records", type=int, default=50_000)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--pg", default=None, help="PostgreSQL admin URL (a database is created and dropped)")
    args = ap.parse_args()
    print(f"submit (hot path):              {submit_cost():.3f} µs per record")
    ms, md = metrics_cost()
    print(f"metrics submit (hot path):      {ms:.3f} µs per record; counters later {md:.1f} µs per record")
    with tempfile.TemporaryDirectory() as tmp:
        cfg = LedgerConfig(data_dir=tmp, batch_size=args.batch, flush_interval_s=0.05)
        rate, cpu = asyncio.run(write_rate(cfg, args.records))
        size = (Path(tmp) / "ledger.db").stat().st_size
        print(
            f"SQLite (WAL):  {rate:>9,.0f} records/s sustained, {cpu:.3f} ms CPU per record, "
            f"{size / args.records:.0f} B/row"
        )
    if args.pg:
        name, url = pg_database(args.pg)
        try:
            with tempfile.TemporaryDirectory() as tmp:
                cfg = LedgerConfig(
                    data_dir=tmp, url=SecretStr(url), batch_size=args.batch, flush_interval_s=0.05
                )
                rate, cpu = asyncio.run(write_rate(cfg, args.records))
                print(
                    f"PostgreSQL:    {rate:>9,.0f} records/s sustained, {cpu:.3f} ms CPU per record "
                    "(client side)"
                )
        finally:
            drop_pg(args.pg, name)


if __name__ == "__main__":
    main()
