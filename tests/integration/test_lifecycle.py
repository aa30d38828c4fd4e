"""SIGTERM under load: every accepted request completes or gets a clean error; none vanish."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import openai

from helpers import start_gateway, start_sim

SIM = """
models:
  slow-up:
    ttft_ms: 800
    tokens_per_s: 200
"""

CONFIG = """
server:
  shutdown_grace_s: 10
providers:
  local:
    type: openai
    base_url: {url}/v1
models:
  slow:
    provider: local
    upstream: slow-up
"""


async def test_sigterm_drains_in_flight_requests(tmp_path: Path) -> None:
    sim = start_sim(tmp_path, SIM)
    gw = start_gateway(tmp_path, CONFIG.format(url=sim.url))
    try:
        client = openai.AsyncOpenAI(base_url=gw.url + "/v1", api_key="x", max_retries=0, timeout=20)

        async def one(i: int, stream: bool) -> str:
            msgs = [{"role": "user", "content": f"request {i}"}]
            if stream:
                s = await client.chat.completions.create(model="slow", messages=msgs, stream=True)  # type: ignore[arg-type]
                text = "".join([c.choices[0].delta.content or "" async for c in s if c.choices])
                return "ok" if text else "empty"
            r = await client.chat.completions.create(model="slow", messages=msgs)  # type: ignore[arg-type]
            return "ok" if r.choices[0].message.content else "empty"

        tasks = [asyncio.create_task(one(i, stream=i % 2 == 0)) for i in range(16)]
        await asyncio.sleep(0.4)  # all 16 are in flight (the upstream takes 0.8 s to answer)
        t0 = time.monotonic()
        gw.popen.send_signal(signal.SIGTERM)
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert results == ["ok"] * 16, results
        code = await asyncio.to_thread(gw.popen.wait, 15)
        assert code == 0
        assert time.monotonic() - t0 < 10
        # after the drain, new connections are refused (clean error, not a hang)
        try:
            await client.chat.completions.create(model="slow", messages=[{"role": "user", "content": "late"}])
            raise AssertionError("a request after shutdown must fail")
        except openai.APIConnectionError:
            pass
        assert "draining in-flight requests" in gw.log_text()
        await client.close()
    finally:
        gw.stop()
        sim.stop()


def test_workers_share_the_port_and_stop_together(tmp_path: Path) -> None:
    sim = start_sim(tmp_path, SIM)
    gw = start_gateway(tmp_path, CONFIG.format(url=sim.url), extra=["--workers", "2"])
    try:
        client = openai.OpenAI(base_url=gw.url + "/v1", api_key="x", max_retries=0, timeout=20)
        for _ in range(4):
            assert client.chat.completions.create(
                model="slow", messages=[{"role": "user", "content": "hi"}]
            ).model
        deadline = time.monotonic() + 10
        while gw.log_text().count("switchman listening") < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert gw.log_text().count("switchman listening") == 2
        gw.popen.send_signal(signal.SIGTERM)
        assert gw.popen.wait(15) == 0
        assert gw.log_text().count('"stopped"') == 2
    finally:
        gw.stop()
        sim.stop()
