"""The official OpenAI SDK against `switchman serve` + `switchman sim` on loopback."""

from __future__ import annotations

import json
import time

import httpx
import openai
import pytest

from helpers import SECRET, Proc


def client(gw: Proc) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key="unused", max_retries=0)


def aclient(gw: Proc) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=gw.url + "/v1", api_key="unused", max_retries=0)


MSG = [{"role": "user", "content": "Name three primary colours."}]


def test_router_model_answers_with_headers(gateway: Proc) -> None:
    raw = client(gateway).chat.completions.with_raw_response.create(model="switchman/auto", messages=MSG)
    completion = raw.parse()
    assert raw.headers["x-switchman-model"] == "tiny"  # cheapest candidate
    assert completion.model == "tiny"
    assert raw.headers["x-switchman-request-id"].startswith("req_")
    assert raw.headers["x-switchman-route"].startswith("switchman/auto")
    assert completion.choices[0].message.content
    assert "[tiny-up]" in completion.choices[0].message.content
    usage = completion.usage
    assert usage is not None and usage.prompt_tokens == 5 and usage.completion_tokens > 12


def test_explicit_model_is_honoured(gateway: Proc) -> None:
    raw = client(gateway).chat.completions.with_raw_response.create(model="big", messages=MSG)
    assert raw.headers["x-switchman-model"] == "big"
    assert raw.parse().model == "big"
    assert raw.headers["x-switchman-route"].startswith("explicit")


def test_quality_router_picks_strongest(gateway: Proc) -> None:
    raw = client(gateway).chat.completions.with_raw_response.create(model="switchman/quality", messages=MSG)
    assert raw.headers["x-switchman-model"] == "big"


async def test_async_client(gateway: Proc) -> None:
    async with aclient(gateway) as c:
        completion = await c.chat.completions.create(model="switchman/auto", messages=MSG)
    assert completion.model == "tiny"
    assert completion.choices[0].finish_reason == "stop"


def test_streaming_with_headers_and_usage(gateway: Proc) -> None:
    raw = client(gateway).chat.completions.with_raw_response.create(
        model="switchman/auto", messages=MSG, stream=True, stream_options={"include_usage": True}
    )
    assert raw.headers["x-switchman-model"] == "tiny"
    assert raw.headers["content-type"].startswith("text/event-stream")
    text, usage, models = "", None, set()
    for chunk in raw.parse():
        models.add(chunk.model)
        if chunk.choices and chunk.choices[0].delta.content:
            text += chunk.choices[0].delta.content
        if chunk.usage is not None:
            usage = chunk.usage
    assert models == {"tiny"}
    assert text.startswith("[tiny-up]")
    # the same prompt non-streamed gives the same deterministic answer and counts
    full = client(gateway).chat.completions.create(model="tiny", messages=MSG)
    assert text == full.choices[0].message.content
    assert usage is not None and full.usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens) == (
        full.usage.prompt_tokens,
        full.usage.completion_tokens,
    )


def test_stream_without_usage_request_gets_no_usage_chunk(gateway: Proc) -> None:
    chunks = list(client(gateway).chat.completions.create(model="switchman/auto", messages=MSG, stream=True))
    assert chunks and all(c.choices for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"


async def test_async_streaming(gateway: Proc) -> None:
    async with aclient(gateway) as c:
        stream = await c.chat.completions.create(model="big", messages=MSG, stream=True)
        parts = [ch.choices[0].delta.content or "" async for ch in stream if ch.choices]
    assert "".join(parts).startswith("[big-up]")


TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
                "required": ["city"],
            },
        },
    }
]


def test_tools_round_trip(gateway: Proc) -> None:
    c = client(gateway)
    messages: list[dict[str, object]] = [{"role": "user", "content": "Weather in Paris?"}]
    first = c.chat.completions.create(model="switchman/auto", messages=messages, tools=TOOLS)  # type: ignore[arg-type]
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls
    call = choice.message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "sim", "days": 1}
    messages.append(choice.message.model_dump(exclude_none=True))
    messages.append({"role": "tool", "tool_call_id": call.id, "content": "sunny, 21C"})
    second = c.chat.completions.create(model="switchman/auto", messages=messages, tools=TOOLS)  # type: ignore[arg-type]
    assert second.choices[0].finish_reason == "stop"
    assert "tool said sunny" in (second.choices[0].message.content or "")


def test_streamed_tool_call(gateway: Proc) -> None:
    stream = client(gateway).chat.completions.create(
        model="switchman/auto",
        messages=[{"role": "user", "content": "Weather in Oslo?"}],
        tools=TOOLS,  # type: ignore[arg-type]
        stream=True,
    )
    names = [
        tc.function.name
        for ch in stream
        if ch.choices and ch.choices[0].delta.tool_calls
        for tc in ch.choices[0].delta.tool_calls
        if tc.function and tc.function.name
    ]
    assert names == ["get_weather"]


def test_passthrough_fields(gateway: Proc) -> None:
    completion = client(gateway).chat.completions.create(
        model="switchman/auto",
        messages=MSG,
        response_format={"type": "json_object"},
        temperature=0.2,
        seed=7,
        max_completion_tokens=500,
        stop=["\n\n"],
        user="u-1",
        n=1,
    )
    assert json.loads(completion.choices[0].message.content or "")["model"] == "tiny-up"


def test_max_tokens_truncates_with_length(gateway: Proc) -> None:
    completion = client(gateway).chat.completions.create(model="switchman/auto", messages=MSG, max_tokens=3)
    assert completion.choices[0].finish_reason == "length"
    assert completion.usage is not None and completion.usage.completion_tokens == 3


def test_unknown_model_is_404(gateway: Proc) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        client(gateway).chat.completions.create(model="no-such-model", messages=MSG)
    assert info.value.status_code == 404
    assert "no-such-model" in info.value.message


def test_bad_field_type_is_400(gateway: Proc) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client(gateway).chat.completions.create(model="switchman/auto", messages=MSG, temperature="hot")  # type: ignore[arg-type]
    body = info.value.body
    assert isinstance(body, dict) and body["param"] == "temperature"


def test_tool_calls_not_an_array_is_400(gateway: Proc) -> None:
    # was a 500: the analysis iterated over it
    messages = [{"role": "assistant", "tool_calls": 3}, {"role": "user", "content": "hi"}]
    for model in ("switchman/auto", "tiny"):
        r = httpx.post(
            gateway.url + "/v1/chat/completions", json={"model": model, "messages": messages}, timeout=5
        )
        assert r.status_code == 400, r.text
        assert r.json()["error"]["param"] == "messages[0].tool_calls"


def test_missing_messages_is_400(gateway: Proc) -> None:
    with pytest.raises(openai.BadRequestError):
        client(gateway).chat.completions.create(model="switchman/auto", messages=[])


def test_malformed_json_is_400_in_openai_shape(gateway: Proc) -> None:
    r = httpx.post(gateway.url + "/v1/chat/completions", content=b"{not json", timeout=5)
    assert r.status_code == 400
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert err["type"] == "invalid_request_error"


def test_body_over_limit_is_413(gateway: Proc) -> None:
    big = "x" * 250_000  # the test config's limit is 200,000 bytes
    r = httpx.post(
        gateway.url + "/v1/chat/completions",
        json={"model": "switchman/auto", "messages": [{"role": "user", "content": big}]},
        timeout=5,
    )
    assert r.status_code == 413
    assert r.json()["error"]["type"] == "invalid_request_error"


def test_upstream_failure_is_502_with_reason(gateway: Proc) -> None:
    with pytest.raises(openai.APIStatusError) as info:
        client(gateway).chat.completions.create(model="broken", messages=MSG)
    assert info.value.status_code == 502
    assert "503" in info.value.message and "simulated upstream failure" in info.value.message


def test_streaming_upstream_failure_before_first_byte_is_http_error(gateway: Proc) -> None:
    with pytest.raises(openai.APIStatusError) as info:
        list(client(gateway).chat.completions.create(model="broken", messages=MSG, stream=True))
    assert info.value.status_code == 502


def test_models_health_ready(gateway: Proc) -> None:
    ids = [m.id for m in client(gateway).models.list()]
    assert {"switchman/auto", "switchman/quality", "tiny", "big", "broken"} <= set(ids)
    assert httpx.get(gateway.url + "/healthz").json() == {"status": "ok"}
    ready = httpx.get(gateway.url + "/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"


def test_wrong_method_and_path_are_openai_shaped(gateway: Proc) -> None:
    r = httpx.get(gateway.url + "/v1/chat/completions")
    assert r.status_code == 405 and "error" in r.json()
    r = httpx.get(gateway.url + "/v1/nothing")
    assert r.status_code == 404 and "error" in r.json()


def test_secret_never_in_logs_or_errors(gateway: Proc) -> None:
    c = client(gateway)
    with pytest.raises(openai.APIStatusError) as info:
        c.chat.completions.create(model="broken", messages=MSG)
    assert SECRET not in str(info.value.body)
    rid = c.chat.completions.with_raw_response.create(model="switchman/auto", messages=MSG).headers[
        "x-switchman-request-id"
    ]
    deadline = time.monotonic() + 5
    while rid not in gateway.log_text() and time.monotonic() < deadline:
        time.sleep(0.05)  # log lines are written in batches
    log = gateway.log_text()
    assert rid in log
    assert SECRET not in log
