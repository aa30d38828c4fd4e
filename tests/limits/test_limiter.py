"""The limiter over both backends: key and model limits, queue/reroute/reject, budgets, reconciliation."""

from __future__ import annotations

import asyncio
import time

import pytest
from limits_support import backend

from switchman.config.limits import KeyLimits, LimitsConfig, ModelLimits, RouteLimits
from switchman.errors import RateLimited
from switchman.limits import Ask, LimitBackend, Limiter
from switchman.limits.plan import NANO, key_specs
from switchman.limits.windows import window

__all__ = ["backend"]

CANDIDATES = [("cheap", 0.001), ("strong", 0.01)]
ONLY_CHEAP = [("cheap", 0.001)]


def cfg(**kw: object) -> LimitsConfig:
    return LimitsConfig.model_validate({"window": "fixed", **kw})


def ask(key: str | None = "k1", route: str = "switchman/auto", tokens: int = 100, **limits: float) -> Ask:
    return Ask(key, KeyLimits.model_validate(limits), route, tokens)


async def test_no_limits_means_no_reservation(backend: LimitBackend) -> None:
    adm = await Limiter(backend).admit(cfg(), ask(key=None), CANDIDATES)
    assert adm.reservation is None and adm.order == (0, 1)


async def test_model_rpm_reroutes_to_the_next_candidate(backend: LimitBackend) -> None:
    c = cfg(models={"cheap": {"rpm": 2}}, on_limit="reroute")
    lim = Limiter(backend)
    models = []
    for _ in range(4):
        adm = await lim.admit(c, ask(), CANDIDATES)
        models.append(CANDIDATES[adm.order[0]][0])
        assert (adm.reservation is not None) == (models[-1] == "cheap")  # strong has no limits
    # 2 fit on cheap (the 2nd fills it: near its quota, it is no longer preferred)
    assert models == ["cheap", "cheap", "strong", "strong"]


async def test_reroute_skips_a_full_model_and_says_why(backend: LimitBackend) -> None:
    c = cfg(models={"cheap": {"rpm": 1}}, near_quota=1.0)
    lim = Limiter(backend)
    await lim.admit(c, ask(), CANDIDATES)
    lim._used.clear()  # as if another replica had filled it: the local view does not know yet
    adm = await lim.admit(c, ask(), CANDIDATES)
    assert CANDIDATES[adm.order[0]][0] == "strong"
    assert adm.skipped == (("cheap", "limit:rpm"),)


async def test_reject_gives_429_with_retry_after(backend: LimitBackend) -> None:
    c = cfg(models={"cheap": {"rpm": 1}}, routes={"switchman/auto": {"on_limit": "reject"}}, near_quota=1.0)
    lim = Limiter(backend)
    await lim.admit(c, ask(), ONLY_CHEAP)
    with pytest.raises(RateLimited) as err:
        await lim.admit(c, ask(), ONLY_CHEAP)
    assert "model 'cheap'" in err.value.message
    ra = err.value.retry_after
    assert ra is not None and 0 < ra <= 60


async def test_queue_waits_for_room_then_admits(backend: LimitBackend) -> None:
    # a window that ends very soon: the queued request is admitted once the next bucket starts
    c = cfg(models={"cheap": {"rpm": 1}}, on_limit="queue", max_wait_s=3, near_quota=1.0)
    lim = Limiter(backend)
    left = window("minute", time.time(), sliding=False).remaining
    if left > 1.5:
        # make the queue test quick: the limit is charged, and the retry-after is the wait; use 'max_wait'
        # shorter than it to see the bounded refusal instead
        await lim.admit(c, ask(), ONLY_CHEAP)
        t0 = time.monotonic()
        with pytest.raises(RateLimited):
            await lim.admit(c.model_copy(update={"max_wait_s": 0.5}), ask(), ONLY_CHEAP)
        assert time.monotonic() - t0 < 0.2  # refused at once: the wait would pass max_wait
        return
    await lim.admit(c, ask(), ONLY_CHEAP)
    adm = await lim.admit(c, ask(), ONLY_CHEAP)
    assert adm.reservation is not None and adm.reservation.model == "cheap"


async def test_queue_is_bounded(backend: LimitBackend) -> None:
    c = cfg(models={"cheap": {"rpm": 1}}, on_limit="queue", max_wait_s=120, queue_size=0, near_quota=1.0)
    lim = Limiter(backend)
    await lim.admit(c, ask(), ONLY_CHEAP)
    with pytest.raises(RateLimited) as err:
        await lim.admit(c, ask(), ONLY_CHEAP)
    assert "queue is full" in err.value.message


async def test_queue_admits_when_a_sliding_window_frees_room(backend: LimitBackend) -> None:
    c = LimitsConfig.model_validate(
        {"window": "sliding", "models": {"cheap": {"tpm": 1000}}, "on_limit": "queue", "max_wait_s": 2}
    )
    lim = Limiter(backend)
    first = await lim.admit(c, ask(tokens=1000), ONLY_CHEAP)
    assert first.reservation is not None
    # the call used far fewer tokens than pre-charged: reconciliation frees the room for a waiter
    waiter = asyncio.create_task(lim.admit(c, ask(tokens=500), ONLY_CHEAP))
    await asyncio.sleep(0.05)
    assert not waiter.done() and lim.waiting == 1
    lim.reconcile(c, first.reservation, "cheap", 100, 0.0)
    # retry-after of a sliding window may be long; the waiter polls at least once in max_wait
    adm = await asyncio.wait_for(waiter, 3)
    assert adm.reservation is not None and lim.waiting == 0


async def test_key_rpm_is_never_rerouted(backend: LimitBackend) -> None:
    lim = Limiter(backend)
    await lim.admit(cfg(), ask(rpm=1), CANDIDATES)
    with pytest.raises(RateLimited) as err:
        await lim.admit(cfg(), ask(rpm=1), CANDIDATES)
    assert "this API key" in err.value.message and err.value.code == "rate_limit_exceeded"


async def test_budget_precharge_and_reconcile(backend: LimitBackend) -> None:
    lim = Limiter(backend)
    c = cfg()
    # budget 0.025: two pre-charges of 0.01 fit, the third does not
    a1 = await lim.admit(c, ask(daily_usd=0.025), [("strong", 0.01)])
    a2 = await lim.admit(c, ask(daily_usd=0.025), [("strong", 0.01)])
    with pytest.raises(RateLimited) as err:
        await lim.admit(c, ask(daily_usd=0.025), [("strong", 0.01)])
    assert err.value.code == "budget_exceeded"
    assert err.value.retry_after is not None and err.value.retry_after <= 86400
    # both calls really cost 0.002: reconciliation gives the rest back
    assert a1.reservation is not None and a2.reservation is not None
    lim.reconcile(c, a1.reservation, "strong", 50, 0.002)
    lim.reconcile(c, a2.reservation, "strong", 50, 0.002)
    await asyncio.sleep(0.05)
    spec = key_specs("k1", KeyLimits(daily_usd=0.025), tokens=0, cost_usd=0, now=time.time(), sliding=False)[
        0
    ]
    assert await backend.read([spec.check]) == [(round(0.004 * NANO), 0)]
    assert (await lim.admit(c, ask(daily_usd=0.025), [("strong", 0.01)])).reservation is not None


async def test_a_fallback_model_gets_the_charge(backend: LimitBackend) -> None:
    c = cfg(models={"cheap": {"tpm": 10_000}, "strong": {"tpm": 10_000}})
    lim = Limiter(backend)
    adm = await lim.admit(c, ask(tokens=1000), CANDIDATES)
    assert adm.reservation is not None and adm.reservation.model == "cheap"
    lim.reconcile(c, adm.reservation, "strong", 700, 0.01)  # dispatch fell back to strong
    await asyncio.sleep(0.05)
    now = time.time()
    from switchman.limits.plan import model_specs

    specs = model_specs("cheap", ModelLimits(tpm=1), tokens=0, now=now, sliding=False)
    specs += model_specs("strong", ModelLimits(tpm=1), tokens=0, now=now, sliding=False)
    assert await backend.read([s.check for s in specs]) == [(0, 0), (700, 0)]


async def test_headroom_and_preference(backend: LimitBackend) -> None:
    c = cfg(models={"cheap": {"rpm": 10}}, near_quota=0.5)
    lim = Limiter(backend)
    assert lim.headroom("cheap") == 1.0
    for _ in range(5):
        await lim.admit(c, ask(), CANDIDATES)
    assert lim.headroom("cheap") == pytest.approx(0.5)
    assert lim.prefer(c, ["cheap", "strong"]) == (1, 0)
    assert lim.status()["near_quota"] == {"cheap": 0.5}


def test_route_limits_validate() -> None:
    assert RouteLimits(on_limit="queue", max_wait_s=1).on_limit == "queue"


async def test_a_budget_too_small_for_the_primary_reroutes_to_a_cheaper_candidate(
    backend: LimitBackend,
) -> None:
    lim = Limiter(backend)
    expensive_first = [("strong", 0.01), ("cheap", 0.001)]
    adm = await lim.admit(cfg(), ask(daily_usd=0.005), expensive_first)
    assert expensive_first[adm.order[0]][0] == "cheap" and adm.skipped == (("strong", "key:daily_usd"),)
    with pytest.raises(RateLimited):  # rejecting routes do not look further
        await lim.admit(cfg(on_limit="reject"), ask(daily_usd=0.005), expensive_first)
