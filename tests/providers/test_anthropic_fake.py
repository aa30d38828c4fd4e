"""The fake Anthropic server speaks what the official ``anthropic`` SDK understands.

If these fail, the fake has drifted from the documented API and the provider tests prove nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import anthropic
import pytest

from fakes.anthropic_server import Running

TOOL = {
    "name": "get_weather",
    "description": "Current weather in a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


@pytest.fixture
async def client(anthropic_fake: Running) -> AsyncIterator[anthropic.AsyncAnthropic]:
    c = anthropic.AsyncAnthropic(
        api_key=anthropic_fake.fake.api_key, base_url=anthropic_fake.base_url, max_retries=0
    )
    yield c
    await c.close()


async def test_sdk_reads_a_message(client: anthropic.AsyncAnthropic) -> None:
    msg = await client.messages.create(
        model="claude-x", max_tokens=100, messages=[{"role": "user", "content": "hi there"}]
    )
    assert msg.content[0].type == "text"
    assert msg.content[0].text == "Hello! You said: hi there"
    assert msg.stop_reason == "end_turn"
    assert msg.usage.input_tokens > 0 and msg.usage.output_tokens == 5


async def test_sdk_tool_round_trip(client: anthropic.AsyncAnthropic) -> None:
    first = await client.messages.create(
        model="claude-x",
        max_tokens=100,
        tools=[TOOL],
        messages=[{"role": "user", "content": "Weather in Paris?"}],
    )
    assert first.stop_reason == "tool_use"
    call = first.content[-1]
    assert call.type == "tool_use" and call.input == {"city": "Paris"}
    second = await client.messages.create(
        model="claude-x",
        max_tokens=100,
        tools=[TOOL],
        messages=[
            {"role": "user", "content": "Weather in Paris?"},
            first.to_param(),
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "sunny"}],
            },
        ],
    )
    assert second.content[0].type == "text" and second.content[0].text == "The tool said: sunny"


async def test_sdk_stream_accumulates_text_and_tool_input(client: anthropic.AsyncAnthropic) -> None:
    async with client.messages.stream(
        model="claude-x", max_tokens=100, messages=[{"role": "user", "content": "stream me please"}]
    ) as stream:
        text = "".join([t async for t in stream.text_stream])
        final = await stream.get_final_message()
    assert text == "Hello! You said: stream me please"
    assert final.usage.output_tokens == 6
    async with client.messages.stream(
        model="claude-x",
        max_tokens=100,
        tools=[TOOL],
        messages=[{"role": "user", "content": "Weather in Oslo"}],
    ) as stream:
        final = await stream.get_final_message()
    assert final.stop_reason == "tool_use"
    assert final.content[-1].type == "tool_use" and final.content[-1].input == {"city": "Oslo"}


async def test_sdk_error_types(client: anthropic.AsyncAnthropic) -> None:
    msgs: list[anthropic.types.MessageParam] = [{"role": "user", "content": "x"}]
    with pytest.raises(anthropic.BadRequestError):
        await client.messages.create(model="claude-reject", max_tokens=5, messages=msgs)
    with pytest.raises(anthropic.RateLimitError) as rl:
        await client.messages.create(model="claude-busy", max_tokens=5, messages=msgs)
    assert rl.value.response.headers["retry-after"] == "7"
    with pytest.raises(anthropic.InternalServerError) as over:
        await client.messages.create(model="claude-overloaded", max_tokens=5, messages=msgs)
    assert over.value.status_code == 529
    with pytest.raises(anthropic.APIStatusError):
        async with client.messages.stream(model="claude-stream-overloaded", max_tokens=5, messages=msgs) as s:
            await s.get_final_message()


async def test_fake_rejects_malformed_requests(anthropic_fake: Running) -> None:
    bad = anthropic.AsyncAnthropic(api_key="wrong", base_url=anthropic_fake.base_url, max_retries=0)
    with pytest.raises(anthropic.AuthenticationError):
        await bad.messages.create(model="claude-x", max_tokens=5, messages=[{"role": "user", "content": "x"}])
    await bad.close()
    good = anthropic.AsyncAnthropic(
        api_key=anthropic_fake.fake.api_key, base_url=anthropic_fake.base_url, max_retries=0
    )
    cases: list[list[anthropic.types.MessageParam]] = [
        [{"role": "user", "content": [{"type": "text", "text": ""}]}],  # empty text block
        [  # tool_use without a tool_result right after it
            {"role": "user", "content": "a"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {}}]},
            {"role": "user", "content": "b"},
        ],
        [  # text before the tool_result
            {"role": "user", "content": "a"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {}}]},
            {
                "role": "user",
                "content": [{"type": "text", "text": "b"}, {"type": "tool_result", "tool_use_id": "t1"}],
            },
        ],
    ]
    for messages in cases:
        with pytest.raises(anthropic.BadRequestError):
            await good.messages.create(model="claude-x", max_tokens=5, messages=messages)
    with pytest.raises(anthropic.BadRequestError):  # not a Messages API field
        await good.messages.create(
            model="claude-x", max_tokens=5, messages=cases[0], extra_body={"frequency_penalty": 1}
        )
    with pytest.raises(anthropic.BadRequestError):  # API version 2026-10-21 removed the sampling parameters
        await good.messages.create(
            model="claude-x", max_tokens=5, messages=cases[0], extra_body={"temperature": 1}
        )
    await good.close()
    assert len(anthropic_fake.fake.rejected) == 5
