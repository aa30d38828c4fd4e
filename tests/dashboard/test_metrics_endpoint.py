"""``GET /metrics`` on a real gateway: the series agree with the traffic that was served."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import httpx
import openai
from prometheus_client.parser import text_string_to_metric_families

from helpers import SECRET, gateway_config, start_gateway, start_sim
from ledger.ledger_helpers import expected_cost, ledger_yaml, mixed_load, read_rows

SIM = """
models:
  tiny-up: {answer_words: 12}
  big-up: {answer_words: 30}
  broken-up: {error_rate: 1.0, error_status: 503}
"""
# continues the `routers:` mapping of gateway_config
CHAIN = """  chain/broken:
    policy: ordered
    models: [broken, tiny]
"""


def scrape(url: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    r = httpx.get(url + "/metrics", timeout=5)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = defaultdict(dict)
    for fam in text_string_to_metric_families(r.text):
        for s in fam.samples:
            out[s.name][tuple(sorted(s.labels.items()))] = s.value
    return out


def total(series: dict[tuple[tuple[str, str], ...], float], **match: str) -> float:
    return sum(v for labels, v in series.items() if all((k, val) in labels for k, val in match.items()))


async def test_metrics_match_the_traffic(tmp_path: Path) -> None:
    sim = start_sim(tmp_path, SIM)
    cfg = gateway_config(sim.url, CHAIN + ledger_yaml(None, str(tmp_path / "data")))
    gw = start_gateway(tmp_path, cfg, env={"SIM_API_KEY": SECRET})
    try:
        served = await mixed_load(gw.url, 40)
        async with openai.AsyncOpenAI(base_url=gw.url + "/v1", api_key="x", max_retries=0) as client:
            for _ in range(3):
                r = await client.chat.completions.create(
                    model="chain/broken", messages=[{"role": "user", "content": "hi"}]
                )
                assert r.model == "tiny"
        m = scrape(gw.url)
    finally:
        gw.stop()
        sim.stop()
    n = len(served) + 3
    assert total(m["switchman_requests_total"]) == n
    assert total(m["switchman_requests_total"], status="200") == n
    assert total(m["switchman_routing_decisions_total"], router="switchman/auto", model="tiny") == 10
    # once broken's breaker opens, routing leaves it out of the chain: later calls are no fallbacks
    rows = read_rows(f"sqlite:///{tmp_path / 'data' / 'ledger.db'}").values()
    ledger_fallbacks = sum(1 for r in rows if r["router"] == "chain/broken" and r["fallback"])
    assert 1 <= total(m["switchman_fallbacks_total"], router="chain/broken") == ledger_fallbacks <= 3
    assert total(m["switchman_upstream_attempts_total"], model="broken", outcome="ok") == 0
    assert total(m["switchman_upstream_attempts_total"], model="broken") >= 3
    inp = sum(s.input_tokens for s in served)
    out = sum(s.output_tokens for s in served)
    assert total(m["switchman_tokens_total"], kind="input") >= inp  # + the 3 fallback calls
    assert total(m["switchman_tokens_total"], kind="output", model="big") == sum(
        s.output_tokens for s in served if s.model == "big"
    )
    big_cost = sum(
        expected_cost("big", s.input_tokens, s.output_tokens)[0] for s in served if s.model == "big"
    )
    assert abs(total(m["switchman_cost_usd_total"], model="big") - big_cost) < 1e-12
    assert out > 0
    assert total(m["switchman_request_duration_seconds_count"]) == n
    assert total(m["switchman_ttft_seconds_count"], stream="true") == len(served) // 2
    assert m["switchman_spend_capture_ratio"][()] == 1.0
    assert total(m["switchman_savings_usd_total"]) > 0
    assert () in m["switchman_ledger_queue_depth"] and m["switchman_ledger_up"][()] == 1.0
    assert total(m["switchman_breaker_state"]) >= 0 and m["switchman_breaker_state"], (
        "one series per deployment"
    )
