"""Any OpenAI-compatible Chat Completions API (OpenAI, Azure-style URLs, vLLM, Ollama, Groq, ...)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import orjson

from switchman.config.model import ProviderConfig
from switchman.errors import UpstreamBadResponse, UpstreamConnectionError, UpstreamError
from switchman.providers.base import TIMEOUT_EXCEPTIONS, HTTPProviderBase, loads_object, timeout_error
from switchman.wire import ChatChunk, ChatRequest, ChatResponse, chunk_from_json, response_from_json

_DONE = b"[DONE]"


class OpenAIProvider(HTTPProviderBase):
    def __init__(self, name: str, config: ProviderConfig) -> None:
        super().__init__(name, config)
        assert config.base_url is not None
        self.url = config.base_url.rstrip("/") + "/chat/completions"
        headers = {"content-type": "application/json"}
        if config.api_key is not None:
            if "api-version" in config.query:  # Azure-style deployments
                headers["api-key"] = config.api_key.get_secret_value()
            else:
                headers["authorization"] = "Bearer " + config.api_key.get_secret_value()
        for k, v in config.headers.items():
            headers[k.lower()] = v.get_secret_value()
        self._headers = headers
        self._params = dict(config.query) or None

    async def complete(self, req: ChatRequest, *, model: str, timeout: float) -> ChatResponse:
        body = orjson.dumps(req.upstream_body(model, stream=False))
        try:
            async with self.session.post(
                self.url,
                data=body,
                headers=self._headers,
                params=self._params,
                timeout=self.client_timeout(timeout),
            ) as resp:
                raw = await resp.read()
                if resp.status >= 400:
                    raise self.error_from_status(resp.status, raw, resp.headers)
        except UpstreamError:
            raise
        except TIMEOUT_EXCEPTIONS:
            raise timeout_error(self.name, "no complete answer in time") from None
        except aiohttp.ClientError as exc:
            raise UpstreamConnectionError(
                f"{self.name}: connection failed: {type(exc).__name__}", provider=self.name
            ) from None
        return response_from_json(loads_object(raw, self.name))

    async def stream(self, req: ChatRequest, *, model: str, timeout: float) -> AsyncIterator[ChatChunk]:
        body = orjson.dumps(req.upstream_body(model, stream=True))
        finished = False
        try:
            async with self.session.post(
                self.url,
                data=body,
                headers=self._headers,
                params=self._params,
                timeout=self.client_timeout(timeout),
            ) as resp:
                if resp.status >= 400:
                    raise self.error_from_status(resp.status, await resp.read(), resp.headers)
                async for line in resp.content:
                    if not line.startswith(b"data:"):
                        continue  # comments, event names, blank separators
                    payload = line[5:].strip()
                    if payload == _DONE:
                        return
                    chunk = chunk_from_json(loads_object(payload, self.name))
                    if chunk.has_choices and any(
                        isinstance(c, dict) and c.get("finish_reason") for c in chunk.data["choices"]
                    ):
                        finished = True
                    yield chunk
        except UpstreamError:
            raise
        except TIMEOUT_EXCEPTIONS:
            raise timeout_error(self.name, "stream stalled") from None
        except aiohttp.ClientError as exc:
            raise UpstreamConnectionError(
                f"{self.name}: stream connection failed: {type(exc).__name__}", provider=self.name
            ) from None
        if not finished:
            raise UpstreamBadResponse(f"{self.name}: stream ended before it finished", provider=self.name)
