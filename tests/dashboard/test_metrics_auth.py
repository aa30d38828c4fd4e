"""``metrics:`` settings on a real gateway: an optional bearer token on ``/metrics``, and switching it off."""

from __future__ import annotations

import httpx

from helpers import gateway_client
from switchman.config.load import parse_config

BASE = """
server: {log_requests: false}
ledger: {enabled: false}
providers:
  sim: {type: sim}
models:
  small: {provider: sim, input_price: 0.15, output_price: 0.6, tier: small}
routers:
  switchman/auto: {policy: ordered, models: [small]}
"""
TOKEN = "metrics-token-0123456789"


async def test_metrics_need_the_bearer_token_when_one_is_set() -> None:
    cfg = parse_config(BASE + "metrics:\n  bearer_token: ${METRICS_TOKEN}\n", {"METRICS_TOKEN": TOKEN})
    async with gateway_client(cfg) as client:
        answer = await client.chat.completions.create(
            model="switchman/auto", messages=[{"role": "user", "content": "hi"}]
        )
        assert answer.model == "small"
        url = str(client.base_url).removesuffix("/v1/") + "/metrics"
        async with httpx.AsyncClient() as http:
            missing = await http.get(url)
            wrong = await http.get(url, headers={"Authorization": "Bearer nope"})
            right = await http.get(url, headers={"Authorization": f"Bearer {TOKEN}"})
    for refused in (missing, wrong):
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == "Bearer"
        error = refused.json()["error"]
        assert error["type"] == "authentication_error" and error["message"]
        assert TOKEN not in refused.text
    assert right.status_code == 200
    assert 'switchman_requests_total{model="small"' in right.text


async def test_metrics_open_by_default_and_off_when_disabled() -> None:
    async with gateway_client(parse_config(BASE, {})) as client:
        url = str(client.base_url).removesuffix("/v1/") + "/metrics"
        async with httpx.AsyncClient() as http:
            assert (await http.get(url)).status_code == 200
    async with gateway_client(parse_config(BASE + "metrics: {enabled: false}\n", {})) as client:
        url = str(client.base_url).removesuffix("/v1/") + "/metrics"
        await client.chat.completions.create(
            model="switchman/auto", messages=[{"role": "user", "content": "hi"}]
        )
        async with httpx.AsyncClient() as http:
            off = await http.get(url)
    assert off.status_code == 404
