"""Any OpenAI-compatible Chat Completions API (OpenAI, Azure-style URLs, vLLM, Ollama, Groq, ...)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import orjson

from switchman.config.model import ProviderConfig
from switchman.errors import UpstreamBadResponse
from switchman.providers.base import HTTPProviderBase, loads_object
from switchman.wire import ChatChunk, ChatRequest, ChatResponse, chunk_from_json, response_from_json

_DONE = b"[DONE]"


class OpenAIProvider(HTTPProviderBase):
    def __init__(self, name: str, config: ProviderConfig) -> None:
        super().__init__(name, config)
        assert config.base_url is not None
        headers = {"content-type": "application/json"}
        if config.api_key is not None:
            if "api-version" in config.query:  # Azure-style deployments
                headers["api-key"] = config.api_key.get_secret_value()
            else:
                headers["authorization"] = "Bearer " + config.api_key.get_secret_value()
        self.init_endpoint(config.base_url.rstrip("/") + "/chat/completions", headers)

    async def complete(self, req: ChatRequest, *, model: str, timeout: float) -> ChatResponse:
        body = orjson.dumps(req.upstream_body(model, stream=False))
        async with self.post(body, timeout) as resp:
            raw = await resp.read()
            if resp.status >= 400:
                raise self.error_from_status(resp.status, raw, resp.headers)
        return response_from_json(loads_object(raw, self.name))

    async def stream(self, req: ChatRequest, *, model: str, timeout: float) -> AsyncIterator[ChatChunk]:
        body = orjson.dumps(req.upstream_body(model, stream=True))
        finished = False
        async with self.post(body, timeout, stream=True) as resp:
            if resp.status >= 400:
                raise self.error_from_status(resp.status, await resp.read(), resp.headers)
            # Read whatever has arrived and split it into lines ourselves (cheaper than readline per
            # line); chunks received together are flagged so the server can write them together.
            buf = bytearray()
            eof = False
            while not eof:
                data = await resp.readany()
                if data:
                    buf += data
                    end = buf.rfind(b"\n") + 1
                else:  # end of body: a last line may lack its newline
                    eof, end = True, len(buf)
                if not end:
                    continue
                payloads = _data_payloads(bytes(buf[:end]))
                del buf[:end]
                last = len(payloads) - 1
                for i, payload in enumerate(payloads):
                    if payload == _DONE:
                        return
                    chunk = chunk_from_json(loads_object(payload, self.name))
                    chunk.more_buffered = i < last
                    if chunk.has_choices and any(
                        isinstance(c, dict) and c.get("finish_reason") for c in chunk.data["choices"]
                    ):
                        finished = True
                    yield chunk
        if not finished:
            raise UpstreamBadResponse(f"{self.name}: stream ended before it finished", provider=self.name)


def _data_payloads(text: bytes) -> list[bytes]:
    """The payloads of the ``data:`` lines in complete SSE lines (comments, event names, blanks skipped)."""
    return [line[5:].strip() for line in text.split(b"\n") if line.startswith(b"data:")]
