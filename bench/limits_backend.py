"""Limit backend overhead: CPU per request of the limiter (admit + reconcile) on each backend.

Runs the limiter in this process exactly as the gateway does for one request with a key (rpm, tpm,
daily and monthly USD budgets) and a model (rpm, tpm, daily tokens) — 7 counters — at a given
concurrency, and reports the process CPU per request (``time.process_time``; Redis's own CPU is not
counted, it runs in its own process) and the p50/p99 latency of ``admit``.

    python bench/limits_backend.py                      # memory and redis (127.0.0.1:6379), markdown
    python bench/limits_backend.py --requests 50000 --concurrency 1,64 --json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import uuid
from typing import Any

from switchman.config.limits import KeyLimits, LimitsConfig
from switchman.limits import Ask, LimitBackend, Limiter, MemoryBackend
from switchman.limits.redis import RedisBackend

CFG = LimitsConfig.model_validate(
    {"models": {"bench-model": {"rpm": 10**9, "tpm": 10**12, "daily_tokens": 10**13}}}
)
ASK = Ask("key_bench", KeyLimits(rpm=10**9, tpm=10**12, daily_usd=10**6, monthly_usd=10**7), "m", 300)
CANDIDATES = [("bench-model", 0.0002)]


async def run(backend: LimitBackend, n: int, concurrency: int) -> dict[str, Any]:
    await backend.start()
    limiter = Limiter(backend)
    lat: list[float] = []

    async def worker(count: int) -> None:
        for _ in range(count):
            t0 = time.perf_counter()
            adm = await limiter.admit(CFG, ASK, CANDIDATES)
            lat.append(time.perf_counter() - t0)
            await asyncio.sleep(0)  # the upstream call would be here
            assert adm.reservation is not None
            limiter.reconcile(CFG, adm.reservation, "bench-model", 250, 0.00015)

    # warm-up (connections, scripts)
    await asyncio.gather(*(worker(5) for _ in range(concurrency)))
    lat.clear()
    c0, w0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker(n // concurrency) for _ in range(concurrency)))
    await asyncio.sleep(0.05)  # let the last reconciliations go out
    cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    done = (n // concurrency) * concurrency
    await backend.aclose()
    lat.sort()
    return {
        "backend": backend.name,
        "concurrency": concurrency,
        "requests": done,
        "cpu_ms_per_request": round(cpu / done * 1000, 4),
        "admit_p50_ms": round(statistics.median(lat) * 1000, 3),
        "admit_p99_ms": round(lat[int(len(lat) * 0.99) - 1] * 1000, 3),
        "requests_per_s": round(done / wall),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=20000)
    ap.add_argument("--concurrency", default="1,16,64")
    ap.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rows = []
    for c in (int(x) for x in args.concurrency.split(",")):
        rows.append(asyncio.run(run(MemoryBackend(), args.requests, c)))
        prefix = f"switchman-bench:{uuid.uuid4().hex[:8]}:"
        rows.append(asyncio.run(run(RedisBackend(args.redis, prefix=prefix), args.requests, c)))
        _drop(args.redis, prefix)
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print("| backend | concurrency | requests | CPU ms/request | admit p50 ms | admit p99 ms | req/s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['backend']} | {r['concurrency']} | {r['requests']} | {r['cpu_ms_per_request']} | "
            f"{r['admit_p50_ms']} | {r['admit_p99_ms']} | {r['requests_per_s']} |"
        )


def _drop(url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(match=prefix + "*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


if __name__ == "__main__":
    main()
