"""Breaker state shared by replicas: a deployment one gateway found broken is avoided by the other."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import httpx
import openai
import redis

from helpers import REDIS_URL, drop_prefix, start_gateway, start_sim

SIM = """
models:
  flaky-up: {error_rate: 1.0, error_status: 503}
  backup-up: {}
"""


def config(sim_url: str, prefix: str) -> str:
    return f"""
state: {{backend: redis, url: "{REDIS_URL}", prefix: "{prefix}"}}
dispatch:
  max_retries: 2
  backoff_base_s: 0.01
  backoff_max_s: 0.02
  breaker: {{failures: 2, window_s: 30, cooldown_s: 20}}
providers:
  sim:
    type: openai
    base_url: {sim_url}/v1
models:
  flaky: {{provider: sim, upstream: flaky-up, input_price: 0.1, output_price: 0.1, tier: small}}
  backup: {{provider: sim, upstream: backup-up, input_price: 1, output_price: 1, tier: large}}
routers:
  switchman/chain:
    policy: ordered
    models: [flaky, backup]
"""


def sim_requests(sim_url: str, name: str) -> int:
    return int(httpx.get(f"{sim_url}/_sim/stats").json().get(name, {}).get("requests", 0))


def test_open_breaker_is_shared_through_redis(tmp_path: Path) -> None:
    prefix = f"switchman-test:{uuid.uuid4().hex[:12]}:"
    sim = start_sim(tmp_path, SIM)
    a = start_gateway(tmp_path, config(sim.url, prefix))
    b = start_gateway(tmp_path, config(sim.url, prefix))
    try:
        ask = [{"role": "user", "content": "hello"}]
        ca = openai.OpenAI(base_url=a.url + "/v1", api_key="x", max_retries=0)
        cb = openai.OpenAI(base_url=b.url + "/v1", api_key="x", max_retries=0)
        assert ca.chat.completions.create(model="switchman/chain", messages=ask).model == "backup"  # type: ignore[arg-type]
        assert sim_requests(sim.url, "flaky-up") == 2  # two failures opened A's breaker
        client = redis.Redis.from_url(REDIS_URL)
        deadline = time.monotonic() + 5
        while not list(client.scan_iter(match=prefix + "breaker:*")) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.2)  # B reads shared breakers every 0.5 s
        raw = cb.chat.completions.with_raw_response.create(model="switchman/chain", messages=ask)  # type: ignore[arg-type]
        assert raw.headers["x-switchman-model"] == "backup"
        assert sim_requests(sim.url, "flaky-up") == 2  # B never sent the broken deployment a request
        metrics = httpx.get(b.url + "/metrics").text
        assert 'switchman_breaker_state{deployment="flaky/sim"} 2.0' in metrics  # open on B too
    finally:
        a.stop()
        b.stop()
        sim.stop()
        drop_prefix(prefix)
