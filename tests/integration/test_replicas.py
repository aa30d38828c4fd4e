"""Limits that hold across replicas: two `switchman serve` processes sharing the real Redis enforce one
global rpm limit and one global budget; a Redis killed mid-test leaves serving up (local limits) and the
gateway reconnects by itself when it is back."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import httpx
import pytest
import redis

from helpers import REDIS_URL, Proc, drop_prefix, free_port, gateway_config, start_gateway, start_sim
from switchman.config.limits import KeyLimits
from switchman.keys import RedisKeyStore, make_key

MSG = [{"role": "user", "content": "hello there"}]
BIG_IN, BIG_OUT = 3.0, 15.0  # USD per 1M tokens of the model `big` in gateway_config


def fresh_minute(min_left: float) -> None:
    """Fixed-window tests must not straddle a minute: wait for the next one if this one ends soon."""
    left = 60 - time.time() % 60
    if left < min_left:
        time.sleep(left + 0.05)


async def load(
    urls: list[str], n: int, body: dict[str, object], secret: str, concurrency: int = 16
) -> list[tuple[int, dict[str, object], dict[str, str]]]:
    """A bounded load generator: ``n`` requests spread over ``urls``, ``concurrency`` at a time."""
    sem = asyncio.Semaphore(concurrency)
    headers = {"authorization": f"Bearer {secret}"}
    timeout = aiohttp.ClientTimeout(total=20)
    async with aiohttp.ClientSession(timeout=timeout) as session:

        async def one(i: int) -> tuple[int, dict[str, object], dict[str, str]]:
            async with sem:
                url = urls[i % len(urls)] + "/v1/chat/completions"
                async with session.post(url, json=body, headers=headers) as r:
                    return r.status, await r.json(), dict(r.headers)

        return await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(n))), 60)


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[list[Proc], str, dict[str, str]]]:
    tmp = tmp_path_factory.mktemp("replicas")
    prefix = f"switchman-test:{uuid.uuid4().hex[:12]}:"
    secrets: dict[str, str] = {}

    async def add_keys() -> None:
        store = RedisKeyStore(REDIS_URL, prefix)
        for name, limits in (("load", KeyLimits()), ("budget", KeyLimits(daily_usd=0.05))):
            key, secret = make_key(name, limits=limits)
            await store.add(key)
            secrets[name], secrets[name + "_id"] = secret, key.id
        await store.aclose()

    asyncio.run(add_keys())
    sim = start_sim(tmp, "models:\n  tiny-up: {answer_words: 12}\n  big-up: {answer_words: 30}\n")
    extra = f"""
auth: {{enabled: true}}
state: {{backend: redis, url: "{REDIS_URL}", prefix: "{prefix}"}}
limits:
  window: fixed
  on_limit: reject
  models:
    tiny: {{rpm: 40}}
"""
    text = gateway_config(sim.url, extra)
    gws = []
    try:
        gws = [start_gateway(tmp, text, env={"SIM_API_KEY": "sk-sim"}) for _ in range(2)]
        yield gws, prefix, secrets
    finally:
        for gw in gws:
            gw.stop()
        sim.stop()
        drop_prefix(prefix)


def test_one_global_rpm_limit(replicas: tuple[list[Proc], str, dict[str, str]]) -> None:
    gws, _, secrets = replicas
    for gw in gws:
        assert httpx.get(gw.url + "/readyz").json()["limits"]["limits"]["shared"] is True
    fresh_minute(5)
    body = {"model": "tiny", "messages": MSG}
    results = asyncio.run(load([g.url for g in gws], 120, body, secrets["load"]))
    codes = [status for status, _, _ in results]
    assert codes.count(200) == 40 and codes.count(429) == 80, codes
    for status, data, headers in results:
        if status == 429:
            assert data["error"]["code"] == "rate_limit_exceeded"  # type: ignore[index]
            assert 1 <= int(headers["Retry-After"]) <= 60
    # both replicas served part of the 40
    served = {h["x-switchman-request-id"] for s, _, h in results if s == 200}
    assert len(served) == 40


def test_one_global_budget_within_one_percent(replicas: tuple[list[Proc], str, dict[str, str]]) -> None:
    gws, prefix, secrets = replicas
    budget = 0.05
    body = {"model": "big", "messages": MSG, "max_tokens": 20}
    results = asyncio.run(load([g.url for g in gws], 240, body, secrets["budget"]))
    spent = 0.0
    for status, data, _ in results:
        if status == 200:
            u = data["usage"]  # type: ignore[index]
            spent += (u["prompt_tokens"] * BIG_IN + u["completion_tokens"] * BIG_OUT) / 1e6  # type: ignore[index]
    codes = [s for s, _, _ in results]
    assert codes.count(429) > 0 and set(codes) == {200, 429}
    print(f"budget {budget} spent {spent:.6f} served {codes.count(200)} refused {codes.count(429)}")
    assert budget * 0.99 <= spent <= budget * 1.01, (spent, codes.count(200))
    # the shared counter holds exactly the real spend: every pre-charge was reconciled, none twice
    time.sleep(0.3)
    day = int(time.time() // 86400)
    client = redis.Redis.from_url(REDIS_URL)
    counted = int(client.get(f"{prefix}k:{secrets['budget_id']}:daily_usd:{day}") or 0) / 1e9
    client.close()
    assert counted == pytest.approx(spent, rel=1e-6, abs=1e-8)


# --- Redis killed and restarted mid-test ---------------------------------------------------------


class OwnRedis:
    """A redis-server this test starts on its own loopback port, and stops by PID."""

    def __init__(self, port: int, log: Path) -> None:
        self.port, self.log = port, log
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        with self.log.open("ab") as fh:
            self.proc = subprocess.Popen(
                [
                    "redis-server",
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--daemonize",
                    "no",
                ],
                stdout=fh,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(redis.RedisError):
                if redis.Redis(port=self.port, socket_timeout=0.5).ping():
                    return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def count(self, pattern: str) -> int:
        client = redis.Redis(port=self.port)
        try:
            return sum(int(client.get(k) or 0) for k in client.scan_iter(match=pattern))
        finally:
            client.close()


def _limits(gw: Proc) -> dict[str, object]:
    return httpx.get(gw.url + "/readyz").json()["limits"]["limits"]  # type: ignore[no-any-return]


def _wait_for(cond: object, timeout: float = 5) -> None:
    assert callable(cond)
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_redis_killed_and_restarted(tmp_path: Path) -> None:
    own = OwnRedis(free_port(), tmp_path / "redis.log")
    own.start()
    sim = start_sim(tmp_path, "models:\n  tiny-up: {answer_words: 5}\n")
    gw = None
    try:
        extra = f"""
state: {{backend: redis, url: "{own.url}", timeout_s: 0.2, reconnect_s: 0.2}}
limits:
  window: fixed
  on_limit: reject
  models:
    tiny: {{rpm: 8}}
"""
        gw = start_gateway(tmp_path, gateway_config(sim.url, extra), env={"SIM_API_KEY": "sk-sim"})
        fresh_minute(6)
        post = lambda: httpx.post(gw.url + "/v1/chat/completions", json={"model": "tiny", "messages": MSG})  # noqa: E731
        assert [post().status_code for _ in range(3)] == [200] * 3
        assert _limits(gw)["shared"] is True
        assert own.count("switchman:m:tiny:rpm:*") == 3

        own.kill()
        # serving goes on with local (per-process) counters, which start afresh: 8 fit, the 9th is refused
        codes = [post().status_code for _ in range(9)]
        assert codes == [200] * 8 + [429], codes
        status = _limits(gw)
        assert status["shared"] is False and "degraded" in status

        own.start()  # same port, empty (no persistence)
        _wait_for(lambda: _limits(gw)["shared"] is True)
        assert [post().status_code for _ in range(2)] == [200, 200]
        assert own.count("switchman:m:tiny:rpm:*") == 2  # counted in Redis again
        _wait_for(lambda: "redis reachable again" in gw.log_text())  # log lines are written in batches
        log = gw.log_text()
        assert log.count("redis unreachable") == 1 and log.count("redis reachable again") == 1
    finally:
        if gw is not None:
            gw.stop()
        sim.stop()
        own.kill()
