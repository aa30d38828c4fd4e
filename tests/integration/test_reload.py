"""Config reload on SIGHUP and on file change: in-flight requests survive, bad configs are rejected."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import httpx
import openai
import pytest

from helpers import Proc, gateway_config, start_gateway, start_sim

SLOW_SIM = """
models:
  tiny-up: {}
  big-up: {}
  broken-up: {}
  slow-up:
    ttft_ms: 1500
"""

SLOW_MODEL = """
  slow:
    provider: local
    upstream: slow-up
    tier: medium
"""


def model_ids(gw: Proc) -> set[str]:
    return {m["id"] for m in httpx.get(gw.url + "/v1/models").json()["data"]}


def wait_for(cond: object, timeout: float = 10.0) -> None:
    assert callable(cond)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


@pytest.fixture
def world(tmp_path: Path) -> tuple[Proc, Proc, Path]:
    sim = start_sim(tmp_path, SLOW_SIM)
    base = gateway_config(sim.url).replace("models:\n  tiny:", "models:" + SLOW_MODEL + "  tiny:", 1)
    gw = start_gateway(tmp_path, base, env={"SIM_API_KEY": "k"}, extra=["--reload-config"])
    cfg = next(tmp_path.glob("gateway-*.yaml"))
    yield sim, gw, cfg
    gw.stop()
    sim.stop()


def test_sighup_reload_keeps_in_flight_and_rejects_bad(world: tuple[Proc, Proc, Path]) -> None:
    _sim, gw, cfg = world
    client = openai.OpenAI(base_url=gw.url + "/v1", api_key="x", max_retries=0)
    result: dict[str, str] = {}

    def slow_call() -> None:
        r = client.chat.completions.create(model="slow", messages=[{"role": "user", "content": "hi"}])
        result["model"] = r.model

    t = threading.Thread(target=slow_call)
    t.start()
    time.sleep(0.5)  # the slow request is in flight
    original = cfg.read_text()
    cfg.write_text(
        original.replace("  broken:\n", "  extra:\n    provider: local\n    tier: small\n  broken:\n")
    )
    gw.popen.send_signal(signal.SIGHUP)
    wait_for(lambda: "extra" in model_ids(gw))
    t.join(10)
    assert result.get("model") == "slow"  # the in-flight request finished on the old config

    cfg.write_text("models: [this is not valid")
    gw.popen.send_signal(signal.SIGHUP)
    wait_for(lambda: "config reload rejected" in gw.log_text())
    assert "extra" in model_ids(gw)  # still serving the previous config
    r = client.chat.completions.create(model="extra", messages=[{"role": "user", "content": "hi"}])
    assert r.model == "extra"
    assert gw.popen.poll() is None


def test_file_change_reload(world: tuple[Proc, Proc, Path]) -> None:
    _, gw, cfg = world
    time.sleep(1.1)  # make sure the mtime changes
    cfg.write_text(
        cfg.read_text().replace(
            "  broken:\n", "  watched:\n    provider: local\n    tier: small\n  broken:\n"
        )
    )
    wait_for(lambda: "watched" in model_ids(gw))
