"""OpenAIProvider on the wire: base URL, Azure-style query and key header, extra headers."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web
from pydantic import SecretStr

from helpers import start_app
from switchman.config.model import ProviderConfig
from switchman.providers.openai import OpenAIProvider
from switchman.wire import chat_request_from_json

ANSWER = {
    "id": "c1",
    "object": "chat.completion",
    "created": 1,
    "model": "gpt-x",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
}


async def _serve(seen: list[dict[str, Any]]) -> tuple[web.AppRunner, int]:
    async def handler(request: web.Request) -> web.Response:
        seen.append(
            {
                "path": request.path,
                "query": dict(request.query),
                "headers": dict(request.headers),
                "body": orjson.loads(await request.read()),
            }
        )
        return web.json_response(ANSWER)

    app = web.Application()
    app.router.add_post("/{tail:.*}", handler)
    return await start_app(app)


async def test_azure_style_query_key_and_extra_headers_reach_the_upstream() -> None:
    seen: list[dict[str, Any]] = []
    runner, port = await _serve(seen)
    cfg = ProviderConfig(
        type="openai",
        base_url=f"http://127.0.0.1:{port}/openai/deployments/gpt-x/",
        api_key=SecretStr("azure-secret-key"),
        query={"api-version": "2024-10-21"},
        headers={"X-Tenant": SecretStr("t-7")},
    )
    provider = OpenAIProvider("azure", cfg)
    try:
        req = chat_request_from_json({"model": "m", "messages": [{"role": "user", "content": "hi"}]})
        for _ in range(2):  # the prepared URL, headers and timeouts are reused across calls
            resp = await provider.complete(req, model="gpt-x", timeout=5)
            assert resp.data["choices"][0]["message"]["content"] == "ok"
    finally:
        await provider.aclose()
        await runner.cleanup()
    assert len(seen) == 2
    for call in seen:
        assert call["path"] == "/openai/deployments/gpt-x/chat/completions"
        assert call["query"] == {"api-version": "2024-10-21"}
        assert call["headers"]["api-key"] == "azure-secret-key"
        assert "Authorization" not in call["headers"]
        assert call["headers"]["x-tenant"] == "t-7"
        assert call["body"]["model"] == "gpt-x"


async def test_bearer_key_without_query() -> None:
    seen: list[dict[str, Any]] = []
    runner, port = await _serve(seen)
    cfg = ProviderConfig(type="openai", base_url=f"http://127.0.0.1:{port}/v1", api_key=SecretStr("sk-abc"))
    provider = OpenAIProvider("oai", cfg)
    try:
        req = chat_request_from_json({"model": "m", "messages": [{"role": "user", "content": "hi"}]})
        await provider.complete(req, model="gpt-x", timeout=5)
    finally:
        await provider.aclose()
        await runner.cleanup()
    assert seen[0]["path"] == "/v1/chat/completions"
    assert seen[0]["query"] == {}
    assert seen[0]["headers"]["Authorization"] == "Bearer sk-abc"
