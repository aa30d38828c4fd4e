"""The fault suite: every `switchman sim` failure mode, what the client sees and what the record says.

Each case configures one simulated upstream model (``PUT /_sim/models/NAME``) and asks the gateway for a
router whose chain is ``[that model, backup]``. The request's record is read from the gateway's JSON log
(one line per request), and the sim's own counters tell how many calls really reached the upstream.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from helpers import Proc, start_gateway, start_sim

FAULTY = [
    "p5xx",
    "pdown",
    "p429",
    "p429long",
    "phang",
    "preset",
    "pmal",
    "pmalstream",
    "pcut",
    "pctx",
    "p422",
    "pbreak",
]


def gateway_yaml(sim_url: str) -> str:
    models = [
        f"  {name}:\n    provider: sim\n    input_price: 1.0\n    output_price: 2.0\n"
        "    context_window: 8000\n"
        for name in [*FAULTY, "backup"]
    ]
    models.append(
        "  bigctx:\n    provider: sim\n    input_price: 5.0\n    output_price: 10.0\n"
        "    context_window: 100000\n"
    )
    routers = [f"  chain/{name}:\n    policy: ordered\n    models: [{name}, backup]\n" for name in FAULTY]
    routers.append("  chain/pctx-big:\n    policy: ordered\n    models: [pctx, backup, bigctx]\n")
    return f"""
dispatch:
  max_retries: 2
  backoff_base_s: 0.01
  backoff_max_s: 0.05
  max_retry_after_s: 5
  attempt_timeout_s: 1.0
  breaker: {{failures: 3, window_s: 30, cooldown_s: 1.5}}
providers:
  sim:
    type: openai
    base_url: {sim_url}/v1
models:
{"".join(models)}routers:
{"".join(routers)}"""


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Proc, Proc]]:
    tmp = tmp_path_factory.mktemp("faults")
    sim = start_sim(tmp)
    gw = start_gateway(tmp, gateway_yaml(sim.url))
    yield sim, gw
    gw.stop()
    sim.stop()


def set_behaviour(sim: Proc, name: str, **behaviour: Any) -> None:
    r = httpx.put(f"{sim.url}/_sim/models/{name}", json=behaviour, timeout=5)
    r.raise_for_status()


def sim_requests(sim: Proc, name: str) -> int:
    return int(httpx.get(f"{sim.url}/_sim/stats", timeout=5).json().get(name, {}).get("requests", 0))


def record(gw: Proc, request_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        for line in gw.log_text().splitlines():
            if request_id in line and '"call"' in line:
                call: dict[str, Any] = json.loads(line)["call"]
                return call
        time.sleep(0.05)
    raise AssertionError(f"no record for {request_id}")


def last_record(gw: Proc, requested: str) -> dict[str, Any]:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        calls = [json.loads(line)["call"] for line in gw.log_text().splitlines() if '"call"' in line]
        mine = [c for c in calls if c["requested_model"] == requested]
        if mine:
            return mine[-1]
        time.sleep(0.05)
    raise AssertionError(f"no record for {requested}")


def client(gw: Proc) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key="x", max_retries=0, timeout=20)


MSG = [{"role": "user", "content": "Summarise the plot of Hamlet."}]


def ask(gw: Proc, model: str, **kw: Any) -> tuple[str, str, Any]:
    raw = client(gw).chat.completions.with_raw_response.create(model=model, messages=MSG, **kw)
    return raw.headers["x-switchman-model"], raw.headers["x-switchman-request-id"], raw.parse()


def outcomes(rec: dict[str, Any]) -> list[tuple[str, bool]]:
    return [(a["model"], a["ok"]) for a in rec["attempts"]]


def test_5xx_burst_is_retried_on_the_same_model(world: tuple[Proc, Proc]) -> None:
    sim, gw = world
    set_behaviour(sim, "p5xx", fail_first=2, fail_mode="error", error_status=503)
    model, rid, resp = ask(gw, "chain/p5xx")
    assert model == "p5xx" and resp.model == "p5xx"
    assert sim_requests(sim, "p5xx") == 3
    rec = record(gw, rid)
    assert outcomes(rec) == [("p5xx", False), ("p5xx", False), ("p5xx", True)]
    assert rec["status"] == 200
    # charged once, for the answer that was served
    assert rec["output_tokens"] == resp.usage.completion_tokens
    assert rec["cost_usd"] == pytest.approx((rec["input_tokens"] * 1.0 + rec["output_tokens"] * 2.0) / 1e6)


def test_persistent_5xx_falls_back(world: tuple[Proc, Proc]) -> None:
    sim, gw = world
    set_behaviour(sim, "pdown", error_rate=1.0, error_status=500)
    model, rid, _ = ask(gw, "chain/pdown")
    assert model == "backup"
    rec = record(gw, rid)
    assert outcomes(rec) == [("pdown", False)] * 3 + [("backup", True)]
    assert rec["model"] == "backup"


def test_429_retry_after_is_honoured(world: tuple[Proc, Proc]) -> None:
    sim, gw = world
    set_behaviour(sim, "p429", fail_first=1, fail_mode="rate_limit", retry_after_s=0.6)
    t0 = time.perf_counter()
    model, rid, _ = ask(gw, "chain/p429")
    assert model == "p429"
    assert time.perf_counter() - t0 >= 0.6
    assert [a["status"] for a in record(gw, rid)["attempts"]] == [429, 200]


def test_429_with_long_retry_after_falls_back_at_once(world: tuple[Proc, Proc]) -> None:
    sim, gw = world
    set_behaviour(sim, "p429long", rate_limit_rate=1.0, retry_after_s=60)
    t0 = time.perf_counter()
    model, rid, _ = ask(gw, "chain/p429long")
    assert model == "backup"
    assert time.perf_counter() - t0 < 3
    assert outcomes(record(gw, rid)) == [("p429long", False), ("backup", True)]


def test_hang_times_out_and_falls_back(world: tuple[Proc, Proc]) -> None:
    sim, gw = world
    set_behaviour(sim, "phang", hang_rate=1.0)
    model, rid, _ = ask(gw, "chain/phang")
    assert model == "backup"
    rec = record(gw, rid)
    assert [a["error"] for a in rec["attempts"][:-1]] == ["UpstreamTimeout"] * 3
    assert all(900 <= a["latency_ms"] < 3000 for a in rec["attempts"][:-1])


def test_connection_reset_is_retried(world: tuple[Proc, Proc]) -> None:
    sim, gw = world
    set_behaviour(sim, "preset", fail_first=1, fail_mode="reset")
    model, rid, _ = ask(gw, "chain/preset")
    assert model == "preset"
    assert [a["error"] for a in record(gw, rid)["attempts"]] == ["UpstreamConnectionError", None]


def test_malformed_json_is_retried(world: tuple[Proc, Proc]) -> None:
    sim, gw = world
    set_behaviour(sim, "pmal", fail_first=1, fail_mode="malformed")
    model, rid, _ = ask(gw, "chain/pmal")
    assert model == "pmal"
    assert [a["error"] for a in record(gw, rid)["attempts"]] == ["UpstreamBadResponse", None]


def test_stream_cut_midway_is_an_error_event_and_truncated(world: tuple[Proc, Proc]) -> None:
    sim, gw = world
    set_behaviour(sim, "pcut", stream_cut_after=3)
    stream = client(gw).chat.completions.create(model="chain/pcut", messages=MSG, stream=True)
    pieces: list[str] = []
    with pytest.raises(openai.APIError) as info:
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                pieces.append(chunk.choices[0].delta.content)
    assert len(pieces) == 3  # what reached the client before the cut
    assert "stream" in str(info.value.message).lower() or "connection" in str(info.value.message).lower()
    rec = last_record(gw, "chain/pcut")
    assert rec["truncated"] is True and rec["status"] == 502
    assert rec["model"] == "pcut"
    assert sim_requests(sim, "backup") >= 0  # no fallback after the first byte:
    assert [a["model"] for a in rec["attempts"]] == ["pcut"]


def test_malformed_stream_line_is_not_a_silent_success(world: tuple[Proc, Proc]) -> None:
    sim, gw = world
    set_behaviour(sim, "pmalstream", malformed_rate=1.0)
    with pytest.raises(openai.APIError):
        list(client(gw).chat.completions.create(model="chain/pmalstream", messages=MSG, stream=True))
    rec = last_record(gw, "chain/pmalstream")
    assert rec["truncated"] is True and rec["status"] >= 500


def test_context_length_falls_back_to_larger_window(world: tuple[Proc, Proc]) -> None:
    sim, gw = world
    set_behaviour(sim, "pctx", context_window=3)  # the sim refuses prompts over 3 tokens
    model, rid, _ = ask(gw, "chain/pctx-big")
    # backup has the same 8k window as pctx, so pre-flight skips it: only a larger window can help
    assert model == "bigctx"
    rec = record(gw, rid)
    assert outcomes(rec) == [("pctx", False), ("bigctx", True)]
    assert rec["attempts"][0]["error"] == "ContextLengthExceeded"


def test_client_error_from_upstream_is_not_retried(world: tuple[Proc, Proc]) -> None:
    sim, gw = world
    set_behaviour(sim, "p422", error_rate=1.0, error_status=422)
    with pytest.raises(openai.UnprocessableEntityError):
        ask(gw, "chain/p422")
    assert sim_requests(sim, "p422") == 1
    assert sim_requests(sim, "backup") >= 0


def test_breaker_opens_then_probes(world: tuple[Proc, Proc]) -> None:
    sim, gw = world
    set_behaviour(sim, "pbreak", error_rate=1.0)
    model, _, _ = ask(gw, "chain/pbreak")  # 3 failures open the breaker (failures: 3)
    assert model == "backup" and sim_requests(sim, "pbreak") == 3
    model, rid, _ = ask(gw, "chain/pbreak")
    assert model == "backup"
    assert sim_requests(sim, "pbreak") == 3  # the open breaker kept the request away
    rec = record(gw, rid)
    assert "pbreak" not in [c["model"] for c in rec["chain"]]  # open breakers are removed from routing
    assert outcomes(rec) == [("backup", True)]
    set_behaviour(sim, "pbreak")  # healthy again (counters reset)
    time.sleep(1.6)  # cooldown → half-open: one probe goes through and closes the breaker
    model, _, _ = ask(gw, "chain/pbreak")
    assert model == "pbreak" and sim_requests(sim, "pbreak") == 1
    model, _, _ = ask(gw, "chain/pbreak")
    assert model == "pbreak"


def test_no_request_is_lost(world: tuple[Proc, Proc], tmp_path: Path) -> None:
    """Every request the gateway answered has exactly one record."""
    _, gw = world
    time.sleep(0.2)
    calls = [json.loads(line)["call"] for line in gw.log_text().splitlines() if '"call"' in line]
    ids = [c["request_id"] for c in calls]
    assert len(ids) == len(set(ids))
