"""The Anthropic Messages API (``POST {base_url}/v1/messages``), spoken on behalf of OpenAI clients.

Requests are translated in :mod:`.anthropic_request`, answers and event streams in
:mod:`.anthropic_response`; this module does the HTTP: headers, errors, timeouts and SSE framing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

import orjson

from switchman.config.model import ProviderConfig
from switchman.errors import UpstreamBadResponse
from switchman.providers.anthropic_request import messages_request
from switchman.providers.anthropic_response import StreamTranslator, chat_response
from switchman.providers.base import HTTPProviderBase, loads_object
from switchman.providers.http1 import Response
from switchman.wire import JSON, ChatChunk, ChatRequest, ChatResponse

ANTHROPIC_VERSION = "2023-06-01"


class AnthropicProvider(HTTPProviderBase):
    def __init__(
        self, name: str, config: ProviderConfig, *, max_output_tokens: Mapping[str, int] | None = None
    ) -> None:
        """``max_output_tokens``: per upstream model name, the model's output limit (from the catalog)."""
        super().__init__(name, config)
        assert config.base_url is not None
        base = config.base_url.rstrip("/")
        headers = {"content-type": "application/json", "anthropic-version": ANTHROPIC_VERSION}
        if config.api_key is not None:
            headers["x-api-key"] = config.api_key.get_secret_value()
        self.init_endpoint((base if base.endswith("/v1") else base + "/v1") + "/messages", headers)
        # A config header may pin another API version; 2026-10-21 rejects the sampling parameters.
        self._sampling = headers["anthropic-version"] == ANTHROPIC_VERSION
        self._max_output = dict(max_output_tokens or {})

    def request_body(self, req: ChatRequest, model: str, *, stream: bool) -> JSON:
        body = messages_request(
            req,
            model,
            provider=self.name,
            default_max_tokens=self.config.default_max_tokens,
            max_output_tokens=self._max_output.get(model),
            sampling=self._sampling,
        )
        if stream:
            body["stream"] = True
        return body

    async def complete(self, req: ChatRequest, *, model: str, timeout: float) -> ChatResponse:
        body = self.request_body(req, model, stream=False)
        async with self.post(orjson.dumps(body), timeout) as resp:
            raw = await resp.read()
            if resp.status >= 400:
                raise self.error_from_status(resp.status, raw, resp.headers)
        return chat_response(loads_object(raw, self.name), self.name)

    async def stream(self, req: ChatRequest, *, model: str, timeout: float) -> AsyncIterator[ChatChunk]:
        body = self.request_body(req, model, stream=True)
        translator = StreamTranslator(self.name, self.redact)
        async with self.post(orjson.dumps(body), timeout, stream=True) as resp:
            if resp.status >= 400:
                raise self.error_from_status(resp.status, await resp.read(), resp.headers)
            async for payload in sse_data(resp):
                for chunk in translator.feed(loads_object(payload, self.name)):
                    yield chunk
                if translator.finished:
                    return
        raise UpstreamBadResponse(f"{self.name}: stream ended before message_stop", provider=self.name)


async def sse_data(content: Response) -> AsyncIterator[bytes]:
    """The ``data`` of each server-sent event (multi-line data joined with newlines).

    Reads whatever arrives and splits lines itself, so one event may be of any length (a large tool input or
    server-tool result).
    """
    buf = bytearray()
    data: list[bytes] = []
    eof = False
    while not eof:
        piece = await content.readany()
        eof = not piece
        buf += piece if piece else b"\n\n"  # flush a last event the upstream did not end with a blank line
        start = 0
        while (end := buf.find(b"\n", start)) >= 0:
            line = bytes(buf[start:end]).rstrip(b"\r")
            start = end + 1
            if line.startswith(b"data:"):
                data.append(line[5:].removeprefix(b" "))
            elif not line and data:
                yield b"\n".join(data)
                data = []
        del buf[:start]
