"""The same behaviour from both limit backends: atomic check-and-charge, windows, adjustments."""

from __future__ import annotations

import asyncio

from limits_support import backend

from switchman.limits import Check, Delta, LimitBackend

__all__ = ["backend"]


def check(name: str, amount: int, limit: int, *, bucket: int = 100, weight: float = 0.0) -> Check:
    return Check(name, bucket, amount, limit, weight, 60_000)


async def test_charges_until_the_limit_then_refuses(backend: LimitBackend) -> None:
    results = [await backend.acquire([check("rpm", 1, 3)]) for _ in range(5)]
    assert [v.ok for v in results] == [True, True, True, False, False]
    assert results[3].denied == 0
    assert results[3].used == ((3, 0),)


async def test_all_or_nothing(backend: LimitBackend) -> None:
    ok = await backend.acquire([check("a", 5, 10), check("b", 5, 10)])
    assert ok.ok
    # b has no room for 6 more: a must not be charged either
    refused = await backend.acquire([check("a", 1, 10), check("b", 6, 10)])
    assert not refused.ok and refused.denied == 1
    assert await backend.read([check("a", 0, 0), check("b", 0, 0)]) == [(5, 0), (5, 0)]


async def test_count_only_checks_never_refuse(backend: LimitBackend) -> None:
    for _ in range(3):
        assert (await backend.acquire([check("spend", 1_000_000, 0)])).ok
    assert await backend.read([check("spend", 0, 0)]) == [(3_000_000, 0)]


async def test_sliding_window_weights_the_previous_bucket(backend: LimitBackend) -> None:
    for _ in range(10):
        assert (await backend.acquire([check("s", 1, 10, bucket=7)])).ok
    # next minute, 30 % into it: 10 * 0.7 = 7 still count, so 3 more fit
    nxt = [await backend.acquire([check("s", 1, 10, bucket=8, weight=0.7)]) for _ in range(4)]
    assert [v.ok for v in nxt] == [True, True, True, False]
    assert nxt[3].used == ((3, 10),)
    # a fixed window ignores the previous bucket
    assert (await backend.acquire([check("s", 1, 10, bucket=8)])).ok


async def test_adjust_corrects_charges(backend: LimitBackend) -> None:
    assert (await backend.acquire([check("usd", 800, 1000)])).ok
    assert not (await backend.acquire([check("usd", 300, 1000)])).ok
    backend.adjust([Delta("usd", 100, -500, 60_000)])  # the call cost 300, not 800
    await asyncio.sleep(0.05)  # adjustments are sent in the background
    assert (await backend.acquire([check("usd", 300, 1000)])).ok
    assert await backend.read([check("usd", 0, 0)]) == [(600, 0)]


async def test_concurrent_acquires_never_overshoot(backend: LimitBackend) -> None:
    verdicts = await asyncio.gather(*(backend.acquire([check("c", 1, 50)]) for _ in range(200)))
    assert sum(v.ok for v in verdicts) == 50
    assert await backend.read([check("c", 0, 0)]) == [(50, 0)]


async def test_status_reports_the_backend(backend: LimitBackend) -> None:
    st = backend.status()
    assert st["backend"] == backend.name
    assert "degraded" not in st
