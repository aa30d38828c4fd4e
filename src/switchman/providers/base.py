"""The Provider protocol and what every HTTP provider shares (upstream endpoint, errors, redaction)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Any, Protocol
from urllib.parse import urlencode

import orjson

from switchman.config.model import ProviderConfig
from switchman.errors import (
    ContextLengthExceeded,
    UpstreamAuthError,
    UpstreamBadResponse,
    UpstreamClientError,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamServerError,
    UpstreamTimeout,
)
from switchman.providers.http1 import Endpoint, Exchange
from switchman.wire import ChatChunk, ChatRequest, ChatResponse

_MAX_MESSAGE = 500
_CONTEXT_MARKERS = ("context_length_exceeded", "context length", "context window", "prompt is too long")


class Provider(Protocol):
    """One upstream API. Raises only :class:`switchman.errors.UpstreamError` subclasses."""

    name: str

    async def complete(self, req: ChatRequest, *, model: str, timeout: float) -> ChatResponse: ...

    def stream(self, req: ChatRequest, *, model: str, timeout: float) -> AsyncIterator[ChatChunk]: ...

    async def aclose(self) -> None: ...


class HTTPProviderBase:
    """The provider's upstream endpoint (a pool of keep-alive connections, ``providers/http1.py``) and the
    helpers every HTTP provider shares."""

    def __init__(self, name: str, config: ProviderConfig) -> None:
        self.name = name
        self.config = config
        self._secrets = [s for s in self._secret_values() if s]

    def _secret_values(self) -> Iterable[str]:
        if self.config.api_key is not None:
            yield self.config.api_key.get_secret_value()
        for v in self.config.headers.values():
            yield v.get_secret_value()

    def init_endpoint(self, url: str, headers: dict[str, str]) -> None:
        """The one URL this provider posts to, with its own headers plus the configured extra headers and
        query, written into the request head once."""
        for k, v in self.config.headers.items():
            headers[k.lower()] = v.get_secret_value()
        if self.config.query:
            url += ("&" if "?" in url else "?") + urlencode(dict(self.config.query))
        c = self.config
        self.endpoint = Endpoint(
            self.name,
            url,
            headers,
            max_connections=c.max_connections,
            connect_timeout=c.connect_timeout_s,
            read_timeout=c.first_byte_timeout_s,
        )

    def post(self, body: bytes, timeout: float, *, stream: bool = False) -> Exchange:
        """``async with self.post(body, timeout) as resp`` (see :meth:`Endpoint.post`)."""
        return self.endpoint.post(body, timeout, stream=stream)

    def redact(self, text: str) -> str:
        for s in self._secrets:
            if len(s) >= 4:
                text = text.replace(s, "***")
        return text[:_MAX_MESSAGE]

    async def aclose(self) -> None:
        await self.endpoint.aclose()

    def error_from_status(self, status: int, body: bytes, headers: Any) -> UpstreamError:
        """Map an upstream HTTP error answer to the project's error type."""
        message, code = _error_message(body)
        message = self.redact(message or f"HTTP {status}")
        text = f"{self.name}: upstream answered {status}: {message}"
        retry_after = parse_retry_after(headers.get("retry-after") if headers is not None else None)
        if status == 429:
            return UpstreamRateLimited(
                text, provider=self.name, upstream_status=status, code=code, retry_after=retry_after
            )
        if status in (408, 504):
            return UpstreamTimeout(text, provider=self.name, upstream_status=status, code=code)
        if status >= 500:
            return UpstreamServerError(
                text, provider=self.name, upstream_status=status, code=code, retry_after=retry_after
            )
        lowered = f"{code or ''} {message}".lower()
        if any(m in lowered for m in _CONTEXT_MARKERS):
            return ContextLengthExceeded(
                text, provider=self.name, upstream_status=status, code=code or "context_length_exceeded"
            )
        if status in (401, 403):
            # The gateway's own credentials were refused: not the client's fault. Another provider may serve.
            return UpstreamAuthError(
                f"{self.name}: upstream refused the gateway's credentials ({status})",
                provider=self.name,
                upstream_status=status,
                code="upstream_auth",
            )
        return UpstreamClientError(text, provider=self.name, upstream_status=status, code=code)


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        import time

        return max(when.timestamp() - time.time(), 0.0)


def _error_message(body: bytes) -> tuple[str, str | None]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body[:_MAX_MESSAGE].decode("utf-8", "replace").strip(), None
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, dict):
            msg = err.get("message")
            code = err.get("code") or err.get("type")
            return (str(msg) if msg is not None else ""), (str(code) if code is not None else None)
        if isinstance(err, str):
            return err, None
    return "", None


def loads_object(raw: bytes, provider: str) -> dict[str, Any]:
    """Parse an upstream JSON object or raise :class:`UpstreamBadResponse`."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise UpstreamBadResponse(
            f"{provider}: upstream answered malformed JSON", provider=provider
        ) from None
    if not isinstance(data, dict):
        raise UpstreamBadResponse(f"{provider}: upstream answered a non-object", provider=provider)
    return data
