"""The gateway routes by the same engine: the official OpenAI SDK against create_app on loopback."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

import openai
import pytest

from helpers import gateway_client
from switchman.config.load import parse_config

CONFIG = """
server: {log_requests: false}
providers:
  sim: {type: sim}
models:
  small:
    provider: sim
    input_price: 0.15
    output_price: 0.6
    context_window: 16000
    tier: small
    latency: low
    capabilities: {vision: false}
  coder:
    provider: sim
    input_price: 0.5
    output_price: 2.0
    context_window: 64000
    tier: medium
    capabilities: {vision: false}
  large:
    provider: sim
    input_price: 3.0
    output_price: 15.0
    context_window: 200000
    tier: large
    latency: high
    capabilities: {vision: true}
routers:
  switchman/auto:
    policy: threshold
    target: 0.7
    embedder: wordllama
    rules:
      - name: premium
        when: {tier: [premium]}
        then: {tier: top}
    routes:
      - name: code
        threshold: 0.45
        then: {model: coder}
        examples:
          - write a python function
          - fix this bug in my code
          - refactor this javascript class
          - implement a binary search in C++
  switchman/text-only:
    models: [small, coder]
"""

PNG_1PX = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360000002000100e221bc330000000049454e44ae426082"
    )
).decode()


@pytest.fixture
async def client() -> AsyncIterator[openai.AsyncOpenAI]:
    async with gateway_client(parse_config(CONFIG, env={})) as c:
        yield c


async def routed_to(client: openai.AsyncOpenAI, content: object, **kw: object) -> tuple[str, str]:
    raw = await client.chat.completions.with_raw_response.create(
        model="switchman/auto",
        messages=[{"role": "user", "content": content}],  # type: ignore[misc, list-item]
        **kw,  # type: ignore[arg-type]
    )
    resp = raw.parse()
    assert resp.choices[0].message.content  # the sim answered through the chosen model
    assert resp.model == raw.headers["x-switchman-model"]
    return raw.headers["x-switchman-model"], raw.headers["x-switchman-route"]


async def test_easy_prompt_goes_to_the_cheap_model(client: openai.AsyncOpenAI) -> None:
    model, route = await routed_to(client, "hello, how are you today?")
    assert model == "small"
    assert route.startswith("switchman/auto;") and ";threshold:prior:q=" in route and route.isascii()


async def test_vision_request_never_reaches_a_non_vision_model(client: openai.AsyncOpenAI) -> None:
    content = [
        {"type": "text", "text": "hi"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_1PX}"}},
    ]
    for _ in range(3):
        model, _route = await routed_to(client, content)
        assert model == "large"


async def test_100k_token_prompt_skips_small_context_models(client: openai.AsyncOpenAI) -> None:
    prompt = "Please read this log. " + "request served ok " * 25000  # ~100k tokens
    model, _route = await routed_to(client, prompt, max_tokens=16)
    assert model == "large"


async def test_premium_tier_gets_the_top_tier(client: openai.AsyncOpenAI) -> None:
    model, route = await routed_to(client, "hello", extra_headers={"x-switchman-tier": "premium"})
    assert model == "large" and ";rule:premium|" in route
    model, _route = await routed_to(client, "hello", metadata={"tier": "premium"})
    assert model == "large"


async def test_semantic_route_sends_code_to_the_code_model(client: openai.AsyncOpenAI) -> None:
    model, route = await routed_to(client, "Write a Python function that parses ISO 8601 dates.")
    assert model == "coder" and ";route:code=" in route


async def test_threshold_in_the_model_name(client: openai.AsyncOpenAI) -> None:
    raw = await client.chat.completions.with_raw_response.create(
        model="switchman/auto@0.99", messages=[{"role": "user", "content": "hello, how are you today?"}]
    )
    assert raw.headers["x-switchman-model"] == "large"


async def test_no_model_can_serve_is_a_400_with_reasons(client: openai.AsyncOpenAI) -> None:
    content = [
        {"type": "text", "text": "hi"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_1PX}"}},
    ]
    with pytest.raises(openai.BadRequestError) as info:
        await client.chat.completions.create(
            model="switchman/text-only",
            messages=[{"role": "user", "content": content}],  # type: ignore[misc, list-item]
        )
    assert info.value.code == "no_candidate"
    assert "small (no-vision)" in info.value.message and "coder (no-vision)" in info.value.message
