"""End to end: the official ``openai`` SDK → switchman (in-process, loopback) → fake Anthropic API."""

from __future__ import annotations

from collections.abc import AsyncIterator

import openai
import orjson
import pytest

from fakes.anthropic_server import Running
from helpers import gateway_client
from switchman.config.load import parse_config

CONFIG = """
providers:
  claude:
    type: anthropic
    base_url: {base_url}
    api_key: ${{ANTHROPIC_API_KEY}}
models:
  haiku:
    provider: claude
    upstream: claude-x
    input_price: 0.8
    output_price: 4.0
    context_window: 200000
    max_output_tokens: 8192
    tier: small
    capabilities: {{vision: true, tools: true}}
  overloaded:
    provider: claude
    upstream: claude-overloaded
    input_price: 0.1
    output_price: 0.1
    tier: small
  rejecting:
    provider: claude
    upstream: claude-reject
    input_price: 0.1
    output_price: 0.1
    tier: small
routers:
  switchman/auto:
    policy: ordered
    models: [overloaded, haiku]
"""

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


@pytest.fixture
async def client(anthropic_fake: Running) -> AsyncIterator[openai.AsyncOpenAI]:
    text = CONFIG.format(base_url=anthropic_fake.base_url)
    config = parse_config(text, env={"ANTHROPIC_API_KEY": anthropic_fake.fake.api_key})
    async with gateway_client(config) as c:
        yield c


async def test_non_stream(client: openai.AsyncOpenAI, anthropic_fake: Running) -> None:
    raw = await client.chat.completions.with_raw_response.create(
        model="haiku",
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi gateway"}],
    )
    assert raw.headers["x-switchman-model"] == "haiku"
    resp = raw.parse()
    assert resp.model == "haiku"
    assert resp.choices[0].message.content == "Hello! You said: Hi gateway"
    assert resp.choices[0].finish_reason == "stop"
    assert resp.usage is not None and resp.usage.completion_tokens == 5
    sent = anthropic_fake.fake.requests[-1]
    assert sent["model"] == "claude-x" and sent["system"] == "Be brief."
    assert sent["max_tokens"] == 8192  # the model's max_output_tokens from the config


async def test_stream_with_usage(client: openai.AsyncOpenAI) -> None:
    stream = await client.chat.completions.create(
        model="haiku",
        messages=[{"role": "user", "content": "Stream it"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    text, finish, usage = "", None, None
    async for chunk in stream:
        assert chunk.model == "haiku"
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
            finish = chunk.choices[0].finish_reason or finish
        if chunk.usage is not None:
            usage = chunk.usage
    assert text == "Hello! You said: Stream it"
    assert finish == "stop"
    assert usage is not None and usage.completion_tokens == 5 and usage.prompt_tokens > 0


async def test_tool_round_trip(client: openai.AsyncOpenAI) -> None:
    messages: list[dict[str, object]] = [{"role": "user", "content": "Weather in Lisbon"}]
    first = await client.chat.completions.create(model="haiku", messages=messages, tools=[WEATHER_TOOL])
    call = first.choices[0].message.tool_calls[0]
    assert first.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "get_weather"
    assert orjson.loads(call.function.arguments) == {"city": "Lisbon"}
    messages += [
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "21 C"},
    ]
    second = await client.chat.completions.create(model="haiku", messages=messages, tools=[WEATHER_TOOL])
    assert second.choices[0].message.content == "The tool said: 21 C"

    stream = await client.chat.completions.create(
        model="haiku",
        messages=[{"role": "user", "content": "Weather in Quito"}],
        tools=[WEATHER_TOOL],
        stream=True,
    )
    args, name = "", None
    async for chunk in stream:
        for tc in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            name = tc.function.name or name if tc.function else name
            args += (tc.function.arguments or "") if tc.function else ""
    assert name == "get_weather" and orjson.loads(args) == {"city": "Quito"}


async def test_overloaded_model_falls_back(client: openai.AsyncOpenAI, anthropic_fake: Running) -> None:
    raw = await client.chat.completions.with_raw_response.create(
        model="switchman/auto", messages=[{"role": "user", "content": "anyone there"}]
    )
    assert raw.headers["x-switchman-model"] == "haiku"
    assert raw.parse().choices[0].message.content == "Hello! You said: anyone there"
    tried = [r["model"] for r in anthropic_fake.fake.requests]
    assert tried[0] == "claude-overloaded" and tried[-1] == "claude-x"
    assert tried.count("claude-overloaded") == 3  # 529 is retryable: two retries before the fallback


async def test_upstream_rejection_is_a_client_error(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        await client.chat.completions.create(model="rejecting", messages=[{"role": "user", "content": "x"}])
    assert "this request was rejected" in str(err.value)
    assert "sk-ant" not in str(err.value)
