"""AnthropicProvider against a loopback fake of the Messages API (requests checked, answers documented)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from pydantic import SecretStr

from fakes.anthropic_server import Running
from switchman.config.model import ProviderConfig
from switchman.errors import (
    ContextLengthExceeded,
    UpstreamAuthError,
    UpstreamBadResponse,
    UpstreamClientError,
    UpstreamConnectionError,
    UpstreamRateLimited,
    UpstreamServerError,
)
from switchman.providers.anthropic import AnthropicProvider
from switchman.wire import ChatChunk, ChatRequest, chat_request_from_json

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
PNG_1PX = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="


def chat(messages: list[dict[str, Any]], **fields: Any) -> ChatRequest:
    return chat_request_from_json({"model": "switchman/auto", "messages": messages, **fields})


async def collect(provider: AnthropicProvider, req: ChatRequest, model: str = "claude-x") -> list[ChatChunk]:
    return [c async for c in provider.stream(req, model=model, timeout=10)]


async def test_text_answer_and_request_translation(
    anthropic_provider: AnthropicProvider, anthropic_fake: Running
) -> None:
    req = chat(
        [
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": [{"type": "text", "text": "No emojis."}]},
            {"role": "user", "content": "What is up"},
        ],
        temperature=1.7,
        top_p=0.9,
        stop=["\n\n", "END"],
        user="user-42",
        seed=7,
        response_format={"type": "json_object"},
    )
    resp = await anthropic_provider.complete(req, model="claude-x", timeout=10)
    choice = resp.data["choices"][0]
    assert choice["message"] == {"role": "assistant", "content": "Hello! You said: What is up"}
    assert choice["finish_reason"] == "stop"
    assert resp.data["object"] == "chat.completion" and resp.data["id"].startswith("chatcmpl-msg_")
    assert resp.usage is not None and resp.usage.completion_tokens == 6 and resp.usage.prompt_tokens > 0

    sent = anthropic_fake.fake.requests[-1]
    assert sent["model"] == "claude-x"
    assert sent["max_tokens"] == 4096  # ProviderConfig.default_max_tokens: the client set none
    assert sent["system"].startswith(
        "Be brief.\n\nNo emojis.\n\nRespond only with a single valid JSON object"
    )
    assert sent["messages"] == [{"role": "user", "content": [{"type": "text", "text": "What is up"}]}]
    assert sent["temperature"] == 1.0 and sent["top_p"] == 0.9  # OpenAI's 0..2 clamped to Anthropic's 0..1
    assert sent["stop_sequences"] == ["END"]  # whitespace-only sequences are dropped
    assert sent["metadata"] == {"user_id": "user-42"}
    assert "seed" not in sent and "stream" not in sent
    headers = anthropic_fake.fake.headers[-1]
    assert headers["x-api-key"] == anthropic_fake.fake.api_key
    assert headers["anthropic-version"] == "2023-06-01"


async def test_max_tokens_follows_the_model_limit(
    anthropic_provider: AnthropicProvider, anthropic_fake: Running
) -> None:
    # claude-small has max_output_tokens 50 in the catalog (see conftest)
    await anthropic_provider.complete(
        chat([{"role": "user", "content": "hi"}]), model="claude-small", timeout=10
    )
    assert anthropic_fake.fake.requests[-1]["max_tokens"] == 50
    req = chat([{"role": "user", "content": "hi"}], max_completion_tokens=1000)
    await anthropic_provider.complete(req, model="claude-small", timeout=10)
    assert anthropic_fake.fake.requests[-1]["max_tokens"] == 50
    req = chat([{"role": "user", "content": "one two three four five"}], max_tokens=3)
    resp = await anthropic_provider.complete(req, model="claude-x", timeout=10)
    assert anthropic_fake.fake.requests[-1]["max_tokens"] == 3
    assert resp.data["choices"][0]["finish_reason"] == "length"
    assert resp.data["choices"][0]["message"]["content"] == "Hello! You said:"


async def test_tool_call_round_trip(anthropic_provider: AnthropicProvider, anthropic_fake: Running) -> None:
    history: list[dict[str, Any]] = [{"role": "user", "content": "What is the weather in Paris?"}]
    first = await anthropic_provider.complete(
        chat(history, tools=[WEATHER_TOOL]), model="claude-x", timeout=10
    )
    choice = first.data["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] == "Let me check that."
    [call] = choice["message"]["tool_calls"]
    assert call["type"] == "function" and call["id"].startswith("toolu_")
    assert call["function"]["name"] == "get_weather"
    assert orjson.loads(call["function"]["arguments"]) == {"city": "Paris"}
    sent = anthropic_fake.fake.requests[-1]
    assert sent["tools"] == [
        {
            "name": "get_weather",
            "input_schema": WEATHER_TOOL["function"]["parameters"],
            "description": "Current weather in a city",
        }
    ]
    assert "tool_choice" not in sent  # OpenAI's default is Anthropic's default (auto)

    history += [
        choice["message"],
        {"role": "tool", "tool_call_id": call["id"], "content": "18 C and sunny"},
        {"role": "user", "content": "Thanks!"},
    ]
    second = await anthropic_provider.complete(
        chat(history, tools=[WEATHER_TOOL]), model="claude-x", timeout=10
    )
    assert second.data["choices"][0]["message"]["content"] == "The tool said: 18 C and sunny"
    assert second.data["choices"][0]["finish_reason"] == "stop"
    turns = anthropic_fake.fake.requests[-1]["messages"]
    assert [t["role"] for t in turns] == ["user", "assistant", "user"]  # tool + user merged into one turn
    assert turns[1]["content"][1] == {
        "type": "tool_use",
        "id": call["id"],
        "name": "get_weather",
        "input": {"city": "Paris"},
    }
    assert turns[2]["content"] == [
        {"type": "tool_result", "tool_use_id": call["id"], "content": "18 C and sunny"},
        {"type": "text", "text": "Thanks!"},
    ]


async def test_parallel_tool_results_and_tool_choice(
    anthropic_provider: AnthropicProvider, anthropic_fake: Running
) -> None:
    calls = [
        {
            "id": f"call_{i}",
            "type": "function",
            "function": {"name": "get_weather", "arguments": f'{{"city":"{c}"}}'},
        }
        for i, c in enumerate(["Oslo", "Rome"])
    ]
    history = [
        {"role": "user", "content": "Weather in Oslo and Rome?"},
        {"role": "assistant", "content": None, "tool_calls": calls},
        {"role": "tool", "tool_call_id": "call_0", "content": "cold"},
        {"role": "tool", "tool_call_id": "call_1", "content": [{"type": "text", "text": "warm"}]},
    ]
    resp = await anthropic_provider.complete(
        chat(history, tools=[WEATHER_TOOL]), model="claude-x", timeout=10
    )
    assert resp.data["choices"][0]["message"]["content"] == "The tool said: cold | warm"
    turns = anthropic_fake.fake.requests[-1]["messages"]
    assert [b["type"] for b in turns[1]["content"]] == ["tool_use", "tool_use"]  # no empty text block
    assert [b["tool_use_id"] for b in turns[2]["content"]] == ["call_0", "call_1"]

    named = {"type": "function", "function": {"name": "get_weather"}}
    for choice, parallel, expected in [
        ("required", None, {"type": "any"}),
        (named, None, {"type": "tool", "name": "get_weather"}),
        ("none", None, {"type": "none"}),
        ("auto", False, {"type": "auto", "disable_parallel_tool_use": True}),
    ]:
        fields: dict[str, Any] = {"tools": [WEATHER_TOOL], "tool_choice": choice}
        if parallel is not None:
            fields["parallel_tool_calls"] = parallel
        req = chat([{"role": "user", "content": "Weather in Lima"}], **fields)
        resp = await anthropic_provider.complete(req, model="claude-x", timeout=10)
        assert anthropic_fake.fake.requests[-1]["tool_choice"] == expected
        want = "stop" if choice == "none" else "tool_calls"
        assert resp.data["choices"][0]["finish_reason"] == want


async def test_assistant_prefill_is_trimmed(
    anthropic_provider: AnthropicProvider, anthropic_fake: Running
) -> None:
    history = [{"role": "user", "content": "Answer in JSON"}, {"role": "assistant", "content": "{ "}]
    await anthropic_provider.complete(chat(history), model="claude-x", timeout=10)
    assert anthropic_fake.fake.requests[-1]["messages"][-1] == {
        "role": "assistant",
        "content": [{"type": "text", "text": "{"}],
    }


async def test_image_parts(anthropic_provider: AnthropicProvider, anthropic_fake: Running) -> None:
    content = [
        {"type": "text", "text": "Compare these"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_1PX}", "detail": "low"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
    ]
    resp = await anthropic_provider.complete(
        chat([{"role": "user", "content": content}]), model="claude-x", timeout=10
    )
    assert resp.data["choices"][0]["message"]["content"] == "Hello! You said: Compare these I see 2 image(s)."
    blocks = anthropic_fake.fake.requests[-1]["messages"][0]["content"]
    assert blocks[1] == {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": PNG_1PX},
    }
    assert blocks[2] == {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}}


async def test_untranslatable_requests_fail_before_any_call(
    anthropic_provider: AnthropicProvider, anthropic_fake: Running
) -> None:
    bmp = [{"type": "image_url", "image_url": {"url": "data:image/bmp;base64,Qk0="}}]
    for req in [
        chat([{"role": "user", "content": bmp}]),
        chat([{"role": "user", "content": "hi"}], n=2),
        chat([{"role": "system", "content": "only a system prompt"}]),
    ]:
        with pytest.raises(UpstreamClientError) as err:
            await anthropic_provider.complete(req, model="claude-x", timeout=10)
        assert err.value.code == "unsupported_by_provider"
        assert not err.value.retryable and err.value.fallback_ok  # an OpenAI-compatible model may serve it
    assert anthropic_fake.fake.requests == []


async def test_stream_text_with_usage(anthropic_provider: AnthropicProvider, anthropic_fake: Running) -> None:
    anthropic_fake.fake.cache_read_tokens = 100
    anthropic_fake.fake.cache_creation_tokens = 20
    chunks = await collect(
        anthropic_provider, chat([{"role": "user", "content": "stream this"}], stream=True)
    )
    assert anthropic_fake.fake.requests[-1]["stream"] is True
    assert chunks[0].data["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert all(c.data["object"] == "chat.completion.chunk" for c in chunks)
    assert len({c.data["id"] for c in chunks}) == 1
    text = "".join(c.data["choices"][0]["delta"].get("content") or "" for c in chunks if c.has_choices)
    assert text == "Hello! You said: stream this"
    finish = [c.data["choices"][0]["finish_reason"] for c in chunks if c.has_choices]
    assert finish[-1] == "stop" and all(f is None for f in finish[:-1])
    last = chunks[-1]
    assert last.data["choices"] == [] and not last.has_choices
    assert last.usage is not None
    assert last.usage.completion_tokens == 5
    assert last.usage.cached_tokens == 100
    assert last.usage.prompt_tokens == 100 + 20 + (4 + 2)  # input + cache reads + cache writes
    assert last.data["usage"]["prompt_tokens_details"] == {"cached_tokens": 100}


async def test_stream_with_huge_and_split_events(anthropic_provider: AnthropicProvider) -> None:
    chunks = await collect(
        anthropic_provider, chat([{"role": "user", "content": "big"}], stream=True), "claude-huge"
    )
    text = "".join(c.data["choices"][0]["delta"].get("content") or "" for c in chunks if c.has_choices)
    assert text == "Hello! You said: big" + "x" * 700_000
    assert chunks[-1].usage is not None


async def test_stream_tool_calls(anthropic_provider: AnthropicProvider) -> None:
    req = chat([{"role": "user", "content": "Weather in Tokyo"}], tools=[WEATHER_TOOL], stream=True)
    chunks = await collect(anthropic_provider, req)
    deltas = [c.data["choices"][0]["delta"] for c in chunks if c.has_choices]
    assert "".join(d.get("content") or "" for d in deltas) == "Let me check that."
    calls = [tc for d in deltas for tc in d.get("tool_calls", [])]
    assert calls[0]["index"] == 0 and calls[0]["id"].startswith("toolu_") and calls[0]["type"] == "function"
    assert calls[0]["function"] == {"name": "get_weather", "arguments": ""}
    assert len(calls) > 2  # the arguments arrive in pieces
    arguments = "".join(tc["function"]["arguments"] for tc in calls)
    assert orjson.loads(arguments) == {"city": "Tokyo"}
    assert all(tc["index"] == 0 for tc in calls)
    assert [c.data["choices"][0]["finish_reason"] for c in chunks if c.has_choices][-1] == "tool_calls"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


async def test_http_errors_map_to_switchman_errors(anthropic_provider: AnthropicProvider) -> None:
    req = chat([{"role": "user", "content": "hi"}])
    with pytest.raises(UpstreamClientError) as invalid:
        await anthropic_provider.complete(req, model="claude-reject", timeout=10)
    assert type(invalid.value) is UpstreamClientError
    assert invalid.value.upstream_status == 400 and invalid.value.code == "invalid_request_error"
    assert not invalid.value.retryable and not invalid.value.fallback_ok
    assert "this request was rejected" in invalid.value.message

    with pytest.raises(ContextLengthExceeded):
        await anthropic_provider.complete(req, model="claude-too-long", timeout=10)

    with pytest.raises(UpstreamRateLimited) as limited:
        await anthropic_provider.complete(req, model="claude-busy", timeout=10)
    assert limited.value.retry_after == 7.0 and limited.value.retryable

    with pytest.raises(UpstreamServerError) as overloaded:
        await anthropic_provider.complete(req, model="claude-overloaded", timeout=10)
    assert overloaded.value.upstream_status == 529 and overloaded.value.code == "overloaded_error"
    assert overloaded.value.retryable and overloaded.value.fallback_ok

    with pytest.raises(UpstreamRateLimited):  # same mapping when the stream is refused
        await collect(
            anthropic_provider, chat([{"role": "user", "content": "hi"}], stream=True), "claude-busy"
        )


async def test_stream_errors(anthropic_provider: AnthropicProvider) -> None:
    req = chat([{"role": "user", "content": "one two three four"}], stream=True)
    agen = anthropic_provider.stream(req, model="claude-stream-overloaded", timeout=10)
    with pytest.raises(UpstreamServerError) as err:
        await anext(agen)  # the error event comes before any chunk: dispatch can still fall back
    assert err.value.upstream_status == 529 and err.value.retryable

    got: list[ChatChunk] = []
    with pytest.raises(UpstreamBadResponse):
        async for chunk in anthropic_provider.stream(req, model="claude-cut", timeout=10):
            got.append(chunk)
    assert "".join(c.data["choices"][0]["delta"].get("content", "") for c in got) == "Hello! You "


async def test_credentials_and_connection_failures(anthropic_fake: Running) -> None:
    secret = "sk-ant-wrong-key-must-not-leak-9090"
    config = ProviderConfig(
        type="anthropic", base_url=anthropic_fake.base_url + "/v1", api_key=SecretStr(secret)
    )
    wrong = AnthropicProvider("claude", config)
    with pytest.raises(UpstreamAuthError) as err:
        await wrong.complete(chat([{"role": "user", "content": "hi"}]), model="claude-x", timeout=10)
    assert secret not in str(err.value) and not err.value.retryable
    await wrong.aclose()

    dead_url = anthropic_fake.base_url
    await anthropic_fake.stop()
    gone = AnthropicProvider(
        "claude", ProviderConfig(type="anthropic", base_url=dead_url, api_key=SecretStr(secret))
    )
    with pytest.raises(UpstreamConnectionError):
        await gone.complete(chat([{"role": "user", "content": "hi"}]), model="claude-x", timeout=10)
    await gone.aclose()


async def test_newer_api_version_gets_no_sampling_parameters(anthropic_fake: Running) -> None:
    config = ProviderConfig(
        type="anthropic",
        base_url=anthropic_fake.base_url,
        api_key=SecretStr(anthropic_fake.fake.api_key),
        headers={"anthropic-version": SecretStr("2026-10-21")},
    )
    provider = AnthropicProvider("claude", config)
    req = chat([{"role": "user", "content": "hi"}], temperature=0.2, top_p=0.5)
    resp = await provider.complete(req, model="claude-x", timeout=10)  # 2026-10-21 would answer 400
    await provider.aclose()
    assert resp.data["choices"][0]["message"]["content"] == "Hello! You said: hi"
    assert anthropic_fake.fake.headers[-1]["anthropic-version"] == "2026-10-21"
    assert "temperature" not in anthropic_fake.fake.requests[-1]
