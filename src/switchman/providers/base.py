"""The Provider protocol and what every HTTP provider shares (sessions, error mapping, redaction)."""

from __future__ import annotations

import asyncio
import functools
import math
from collections.abc import AsyncIterator, Iterable
from typing import Any, Protocol

import aiohttp
import orjson
from multidict import CIMultiDict
from yarl import URL

from switchman.config.model import ProviderConfig
from switchman.errors import (
    ContextLengthExceeded,
    UpstreamAuthError,
    UpstreamBadResponse,
    UpstreamClientError,
    UpstreamConnectionError,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamServerError,
    UpstreamTimeout,
)
from switchman.wire import ChatChunk, ChatRequest, ChatResponse

_MAX_MESSAGE = 500
_CONTEXT_MARKERS = ("context_length_exceeded", "context length", "context window", "prompt is too long")


class Provider(Protocol):
    """One upstream API. Raises only :class:`switchman.errors.UpstreamError` subclasses."""

    name: str

    async def complete(self, req: ChatRequest, *, model: str, timeout: float) -> ChatResponse: ...

    def stream(self, req: ChatRequest, *, model: str, timeout: float) -> AsyncIterator[ChatChunk]: ...

    async def aclose(self) -> None: ...


@functools.lru_cache(maxsize=256)
def _timeout(total: float, connect: float, first_byte: float) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(total=total, connect=min(connect, total), sock_read=min(first_byte, total))


class HTTPProviderBase:
    """Pooled aiohttp session (created lazily, inside the running loop) and shared helpers."""

    def __init__(self, name: str, config: ProviderConfig) -> None:
        self.name = name
        self.config = config
        self._session: aiohttp.ClientSession | None = None
        self._secrets = [s for s in self._secret_values() if s]

    def _secret_values(self) -> Iterable[str]:
        if self.config.api_key is not None:
            yield self.config.api_key.get_secret_value()
        for v in self.config.headers.values():
            yield v.get_secret_value()

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self.config.max_connections, limit_per_host=0, keepalive_timeout=30, ttl_dns_cache=300
            )
            self._session = aiohttp.ClientSession(
                connector=connector, json_serialize=lambda o: orjson.dumps(o).decode(), auto_decompress=True
            )
        return self._session

    def init_endpoint(self, url: str, headers: dict[str, str]) -> None:
        """The one URL this provider posts to, its own headers plus the configured extra headers and query.

        URL, query and headers are built once here (per request they would cost aiohttp a URL parse and
        a header copy, ~10 µs).
        """
        for k, v in self.config.headers.items():
            headers[k.lower()] = v.get_secret_value()
        self.url = URL(url).update_query(dict(self.config.query)) if self.config.query else URL(url)
        self.headers = CIMultiDict(headers)

    def post(self, body: bytes, timeout: float) -> aiohttp.client._RequestContextManager:
        timeouts = self.client_timeout(timeout)
        return self.session.post(self.url, data=body, headers=self.headers, timeout=timeouts)

    def transport_errors(self, *, stream: bool) -> _TransportErrors:
        """Turn timeouts and connection failures inside the block into the project's upstream errors."""
        return _TransportErrors(self.name, stream)

    def client_timeout(self, total: float) -> aiohttp.ClientTimeout:
        """The attempt's timeouts; ``total`` is rounded up to 0.1 s so that the object can be reused."""
        c = self.config
        return _timeout(math.ceil(total * 10) / 10, c.connect_timeout_s, c.first_byte_timeout_s)

    def redact(self, text: str) -> str:
        for s in self._secrets:
            if len(s) >= 4:
                text = text.replace(s, "***")
        return text[:_MAX_MESSAGE]

    async def aclose(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()

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


class _TransportErrors:
    """The context manager of :meth:`HTTPProviderBase.transport_errors` (a class: ~1 µs cheaper per
    request than a generator-based ``contextlib.contextmanager``)."""

    __slots__ = ("provider", "stream")

    def __init__(self, provider: str, stream: bool) -> None:
        self.provider, self.stream = provider, stream

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        if kind is None:
            return
        if issubclass(kind, TIMEOUT_EXCEPTIONS):
            what = "stream stalled" if self.stream else "no complete answer in time"
            raise timeout_error(self.provider, what) from None
        if issubclass(kind, aiohttp.ClientError):
            what = "stream connection failed" if self.stream else "connection failed"
            raise UpstreamConnectionError(
                f"{self.provider}: {what}: {kind.__name__}", provider=self.provider
            ) from None


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


def timeout_error(provider: str, what: str) -> UpstreamTimeout:
    return UpstreamTimeout(f"{provider}: upstream timed out ({what})", provider=provider)


TIMEOUT_EXCEPTIONS = (asyncio.TimeoutError, aiohttp.ServerTimeoutError)
