"""The OpenAI provider's SSE reader against a loopback server that controls how bytes arrive."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import orjson
import pytest
from aiohttp import web

from helpers import start_app
from switchman.config.model import ProviderConfig
from switchman.errors import UpstreamBadResponse
from switchman.providers.openai import OpenAIProvider
from switchman.wire import ChatChunk, chat_request_from_json, chunk_json

Writer = Callable[[web.StreamResponse], Awaitable[None]]


def event(i: int, finish: bool = False) -> bytes:
    data = chunk_json(
        completion_id="c1",
        model="m",
        created=1,
        delta={"content": f" w{i}"},
        finish_reason="stop" if finish else None,
    )
    return b"data: " + orjson.dumps(data) + b"\n\n"


async def serve(write: Writer) -> tuple[web.AppRunner, str]:
    async def handler(request: web.Request) -> web.StreamResponse:
        await request.read()
        resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await resp.prepare(request)
        await write(resp)
        await resp.write_eof()
        return resp

    app = web.Application()
    app.router.add_post("/v1/chat/completions", handler)
    runner, port = await start_app(app)
    return runner, f"http://127.0.0.1:{port}/v1"


async def collect(write: Writer) -> list[ChatChunk]:
    runner, base = await serve(write)
    provider = OpenAIProvider("up", ProviderConfig(type="openai", base_url=base))
    req = chat_request_from_json({"model": "m", "messages": [{"role": "user", "content": "hi"}]})
    try:
        return [c async for c in provider.stream(req, model="m", timeout=10)]
    finally:
        await provider.aclose()
        await runner.cleanup()


async def test_events_split_across_reads_and_coalesced_are_all_read() -> None:
    async def write(resp: web.StreamResponse) -> None:
        whole = event(0) + b": keep-alive comment\n\n" + event(1) + event(2, finish=True)
        # first event cut in the middle of its JSON, then the rest arrives in one piece
        await resp.write(whole[:20])
        await asyncio.sleep(0.05)
        await resp.write(whole[20:] + b"data: [DONE]\n\n")

    chunks = await collect(write)
    assert [c.data["choices"][0]["delta"]["content"] for c in chunks] == [" w0", " w1", " w2"]
    # chunks that arrived together say so: each one's successor ([DONE] for the last) was already here
    assert [c.more_buffered for c in chunks] == [True, True, True]


async def test_each_event_in_its_own_read_is_never_held_back() -> None:
    async def write(resp: web.StreamResponse) -> None:
        for i in range(3):
            await resp.write(event(i, finish=i == 2))
            await asyncio.sleep(0.03)
        await resp.write(b"data: [DONE]\n\n")

    chunks = await collect(write)
    assert len(chunks) == 3
    assert not any(c.more_buffered for c in chunks)


async def test_last_line_without_newline_and_crlf_lines_are_read() -> None:
    async def write(resp: web.StreamResponse) -> None:
        await resp.write(event(0).replace(b"\n", b"\r\n") + event(1, finish=True).rstrip(b"\n"))

    chunks = await collect(write)
    assert [c.data["choices"][0]["delta"]["content"] for c in chunks] == [" w0", " w1"]


async def test_stream_that_ends_without_finish_is_an_error() -> None:
    async def write(resp: web.StreamResponse) -> None:
        await resp.write(event(0))

    with pytest.raises(UpstreamBadResponse):
        await collect(write)
