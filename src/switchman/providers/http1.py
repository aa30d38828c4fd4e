"""The upstream HTTP/1.1 client: keep-alive connection pools on asyncio, responses parsed by httptools.

One :class:`Endpoint` per provider URL. A request is the endpoint's request head, built once (request line,
``host``, the provider's headers), plus ``content-length`` and the body, written to an idle pooled
connection or a new one; the answer is parsed by httptools (llhttp, the parser of Node.js and uvicorn).
aiohttp's client did the same job at ≈ 385 k instructions a request on this path, this one at ≈ 25 k
(docs/benchmarks.md, "The upstream client"), and the gateway spends most of its time proxying.

Errors are switchman's own: :class:`UpstreamConnectionError` (refused, reset, closed early, TLS failure,
malformed HTTP), :class:`UpstreamTimeout` (no connection within ``connect_timeout``, no byte within
``read_timeout`` of the last one, or the whole exchange past its deadline). A failed exchange is never
retried here (a POST may have reached the model); the dispatcher decides what comes next.
"""

from __future__ import annotations

import asyncio
import ssl
import zlib
from collections import deque
from collections.abc import Mapping
from typing import Any, cast
from urllib.parse import urlsplit

import httptools

from switchman.errors import ConfigError, UpstreamBadResponse, UpstreamConnectionError, UpstreamTimeout

__all__ = ["Endpoint", "Exchange", "Response"]

#: An answer larger than this (after decompression) is refused rather than held in memory.
MAX_BODY_BYTES = 64 << 20
#: Reading pauses while this much of a streamed answer waits unread.
_HIGH_WATER = 1 << 20


class Endpoint:
    """``POST`` to one URL over a pool of at most ``max_connections`` keep-alive connections."""

    def __init__(
        self,
        provider: str,
        url: str,
        headers: Mapping[str, str],
        *,
        max_connections: int,
        connect_timeout: float,
        read_timeout: float,
        keepalive_s: float = 30.0,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"provider {provider}: base_url must be an http(s) URL, got {url!r}")
        self.provider = provider
        self.host = parts.hostname
        self.tls = parts.scheme == "https"
        self.port = parts.port or (443 if self.tls else 80)
        default_port = self.port == (443 if self.tls else 80)
        host = f"[{self.host}]" if ":" in self.host else self.host
        authority = host if default_port else f"{host}:{self.port}"
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        lines = [f"POST {target} HTTP/1.1", f"host: {authority}"]
        base = {"user-agent": "switchman", "accept-encoding": "identity", "connection": "keep-alive"}
        for name, value in {**base, **{k.lower(): v for k, v in headers.items()}}.items():
            if name in ("host", "content-length", "transfer-encoding"):
                continue
            if any(c in name or c in value for c in "\r\n\0") or not name or ":" in name:
                raise ConfigError(f"provider {provider}: header {name!r} has a forbidden character")
            if not (name + value).isascii():
                raise ConfigError(f"provider {provider}: header {name!r} is not ASCII")
            lines.append(f"{name}: {value}")
        if not target.isascii() or not authority.isascii():
            raise ConfigError(f"provider {provider}: base_url must be ASCII (percent-encode the path)")
        self._head = ("\r\n".join(lines) + "\r\ncontent-length: ").encode("ascii")
        self.max_connections = max_connections
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.keepalive_s = keepalive_s
        self._ssl: ssl.SSLContext | None = None
        self._idle: list[_Conn] = []
        self._open = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._closed = False

    def post(self, body: bytes, timeout: float, *, stream: bool = False) -> Exchange:
        """``async with endpoint.post(body, timeout) as resp:`` — the answer's status and headers are
        read on entry; leaving the block returns the connection to the pool (or closes it if the answer
        was not read to its end). ``timeout`` bounds the whole exchange."""
        return Exchange(self, body, timeout, stream)

    async def aclose(self) -> None:
        """Close the idle connections now and the busy ones when their exchange ends."""
        self._closed = True
        for conn in self._idle:
            conn.close()
        self._idle.clear()

    # -- the pool --------------------------------------------------------------------------------------

    async def _acquire(self, loop: asyncio.AbstractEventLoop, deadline: float, stream: bool) -> _Conn:
        while True:
            now = loop.time()
            while self._idle:
                conn = self._idle.pop()
                if conn.reusable(now, self.keepalive_s):
                    return conn
                conn.close()
            if self._open < self.max_connections:
                return await self._connect(loop, deadline, stream)
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters.append(waiter)
            timer = loop.call_at(deadline, _expire, waiter)
            try:
                await waiter
            except TimeoutError:
                raise self._timeout(stream, "no free connection in time") from None
            except BaseException:
                self._wake_one()  # a wake-up this task may have taken goes to the next waiter
                raise
            finally:
                timer.cancel()
                if waiter in self._waiters:
                    self._waiters.remove(waiter)

    async def _connect(self, loop: asyncio.AbstractEventLoop, deadline: float, stream: bool) -> _Conn:
        if self.tls and self._ssl is None:
            self._ssl = ssl.create_default_context()
        self._open += 1
        try:
            async with asyncio.timeout_at(min(deadline, loop.time() + self.connect_timeout)):
                _, conn = await loop.create_connection(
                    lambda: _Conn(self),
                    self.host,
                    self.port,
                    ssl=self._ssl,
                    server_hostname=self.host if self.tls else None,
                )
        except TimeoutError:
            self._forget()
            raise self._timeout(stream, "no connection in time") from None
        except OSError as exc:  # refused, unreachable, name not resolved, TLS handshake failed
            self._forget()
            what = "stream connection failed" if stream else "connection failed"
            raise UpstreamConnectionError(
                f"{self.provider}: {what}: {type(exc).__name__}", provider=self.provider
            ) from None
        except BaseException:
            self._forget()
            raise
        if conn.lost:  # closed before this task resumed: its connection_lost() did not count it
            self._forget()
        else:
            conn.counted = True  # from now on its connection_lost() gives the slot back
        return conn

    def _release(self, conn: _Conn, loop: asyncio.AbstractEventLoop, clean: bool) -> None:
        """The exchange on ``conn`` is over: keep the connection for the next one if it can serve it.

        A stream whose reader stopped at its last event (``[DONE]``, ``message_stop``) usually has only
        the body's terminator left in flight: the connection is parked once that arrives (within
        ``read_timeout``, else closed). Any other unfinished answer closes the connection, which also
        tells the upstream to stop generating for a client that went away.
        """
        reusable = conn.keep_alive and not self._closed and not conn.lost and conn.failure is None
        if reusable and conn.finished:
            self._park(conn, loop.time())
        elif reusable and clean and conn.headers_done:
            conn.drain(loop.call_later(self.read_timeout, conn.close))
        else:
            conn.close()  # connection_lost() will _forget() it

    def _park(self, conn: _Conn, now: float) -> None:
        conn.reset(now)
        self._idle.append(conn)
        self._wake_one()

    def _forget(self) -> None:
        self._open -= 1
        self._wake_one()

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _timeout(self, stream: bool, what: str) -> UpstreamTimeout:
        kind = "stream stalled" if stream else what
        return UpstreamTimeout(f"{self.provider}: upstream timed out ({kind})", provider=self.provider)

    def _lost(self, stream: bool, what: str) -> UpstreamConnectionError:
        prefix = "stream connection failed" if stream else "connection failed"
        return UpstreamConnectionError(f"{self.provider}: {prefix}: {what}", provider=self.provider)


class Response:
    """The answer of one exchange: ``status``, ``headers`` (lower-case names), then the body by
    :meth:`read` (all of it) or :meth:`readany` (what has arrived; ``b""`` at the end)."""

    __slots__ = ("_conn", "_deadline", "_decoded", "_decoder", "_stream", "headers", "status")

    def __init__(self, conn: _Conn, deadline: float, stream: bool) -> None:
        self._conn = conn
        self._deadline = deadline
        self._stream = stream
        self._decoded = 0
        self.status = conn.status
        self.headers = conn.headers
        encoding = conn.headers.get("content-encoding", "identity").strip().lower()
        if encoding in ("gzip", "x-gzip", "deflate"):
            self._decoder: Any = zlib.decompressobj(47)  # gzip or zlib framing, detected
        elif encoding in ("identity", ""):
            self._decoder = None
        else:
            conn.close()
            raise UpstreamBadResponse(
                f"{conn.endpoint.provider}: upstream answered content-encoding {encoding!r}",
                provider=conn.endpoint.provider,
            )

    async def read(self) -> bytes:
        conn = self._conn
        parts: list[bytes] = []
        while not conn.finished:
            await conn.wait(self._deadline, self._stream)
            if conn.buffered > _HIGH_WATER:
                parts.append(conn.take())  # so that reading resumes
        parts.append(conn.take())
        return self._decode(parts[0] if len(parts) == 1 else b"".join(parts), final=True)

    async def readany(self) -> bytes:
        conn = self._conn
        while not conn.chunks and not conn.finished:
            await conn.wait(self._deadline, self._stream)
        return self._decode(conn.take(), final=conn.finished)

    def _decode(self, data: bytes, *, final: bool) -> bytes:
        if self._decoder is None:
            return data
        room = MAX_BODY_BYTES - self._decoded
        try:
            out: bytes = self._decoder.decompress(data, room + 1)  # more than room: over the limit
            if final and len(out) <= room:
                out += self._decoder.flush()
        except zlib.error:
            self._conn.close()
            provider = self._conn.endpoint.provider
            what = f"{provider}: upstream body is not valid gzip"
            raise UpstreamBadResponse(what, provider=provider) from None
        self._decoded += len(out)
        if self._decoded > MAX_BODY_BYTES:
            self._conn.close()
            raise self._conn.endpoint._lost(False, f"answer over {MAX_BODY_BYTES} bytes")
        return out


class Exchange:
    """The async context manager of :meth:`Endpoint.post`."""

    __slots__ = ("_body", "_conn", "_endpoint", "_stream", "_timeout")

    def __init__(self, endpoint: Endpoint, body: bytes, timeout: float, stream: bool) -> None:
        self._endpoint, self._body, self._timeout, self._stream = endpoint, body, timeout, stream
        self._conn: _Conn | None = None

    async def __aenter__(self) -> Response:
        ep = self._endpoint
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout
        conn = self._conn = await ep._acquire(loop, deadline, self._stream)
        conn.parked = False
        body = self._body
        try:
            conn.transport.write(b"%b%d\r\n\r\n%b" % (ep._head, len(body), body))
            while not conn.headers_done:
                await conn.wait(deadline, self._stream)
            return Response(conn, deadline, self._stream)
        except BaseException:
            self._conn = None
            conn.close()
            raise

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        conn = self._conn
        if conn is not None:
            self._conn = None
            self._endpoint._release(conn, asyncio.get_running_loop(), clean=kind is None)


class _AnswerAfterAnswer(Exception):
    """Raised in the parser's callback to stop it at an answer that no request asked for."""


def _expire(waiter: asyncio.Future[Any]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


class _Conn(asyncio.Protocol):
    """One connection: its parser's callbacks fill ``status``, ``headers`` and ``chunks``; the task that
    awaits the exchange waits on one future at a time, with a timer for the read timeout."""

    transport: asyncio.Transport

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.parser = httptools.HttpResponseParser(self)
        self.lost = False
        #: Whether this connection holds one of the endpoint's ``_open`` slots (set once ``_connect``
        #: returned it; before that, a failed connect gives the slot back itself).
        self.counted = False
        self.idle_since = 0.0
        self._waiter: asyncio.Future[None] | None = None
        self.failure: Exception | None = None
        self._paused = False
        self._draining: asyncio.TimerHandle | None = None
        self.parked = False
        self._new_message()

    def _new_message(self) -> None:
        self.status = 0
        self.headers: dict[str, str] = {}
        self.chunks: list[bytes] = []
        self.buffered = 0
        self.received = 0
        self.headers_done = False
        self.finished = False
        self.keep_alive = False
        self.until_eof = False

    def reusable(self, now: float, keepalive_s: float) -> bool:
        return not self.lost and not self.transport.is_closing() and now - self.idle_since < keepalive_s

    def reset(self, now: float) -> None:
        self._new_message()
        self.failure = None
        self.idle_since = now
        self.parked = True

    def drain(self, timer: asyncio.TimerHandle) -> None:
        """Read the rest of the answer without keeping it, then go back to the pool (``timer`` closes
        the connection if the end does not come)."""
        self.chunks = []
        self._draining = timer
        self.take()  # resumes reading if it was paused

    def close(self) -> None:
        if not self.transport.is_closing():
            self.transport.close()

    # -- waiting ---------------------------------------------------------------------------------------

    async def wait(self, deadline: float, stream: bool) -> None:
        """Until the parser has something new, the connection fails, or the read timeout/deadline."""
        if self.failure is not None:
            raise self.failure
        loop = asyncio.get_running_loop()
        waiter = self._waiter = loop.create_future()
        timer = loop.call_at(min(deadline, loop.time() + self.endpoint.read_timeout), _expire, waiter)
        try:
            await waiter
        except TimeoutError:
            self.close()
            what = "no answer in time" if not self.headers_done else "no complete answer in time"
            raise self.endpoint._timeout(stream, what) from None
        finally:
            timer.cancel()
            self._waiter = None
        if self.failure is not None:
            raise self.failure

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _fail(self, error: Exception) -> None:
        if self.failure is None:
            self.failure = error
        self.close()
        self._wake()

    def take(self) -> bytes:
        data = b"".join(self.chunks) if len(self.chunks) != 1 else self.chunks[0]
        self.chunks = []
        self.buffered = 0
        if self._paused and not self.transport.is_closing():
            self._paused = False
            self.transport.resume_reading()
        return data

    # -- asyncio.Protocol ------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass it

    def data_received(self, data: bytes) -> None:
        if self.finished or self.parked:  # bytes after a complete answer or that answer no request:
            self.keep_alive = False  # the connection cannot be trusted again
            self.close()
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(self.endpoint._lost(False, "upstream switched protocols"))
        except httptools.HttpParserError as exc:
            if self.finished or self.parked:  # the answer is whole; what came behind it is not trusted
                self.keep_alive = False
                self.close()
            else:
                self._fail(self.endpoint._lost(False, f"malformed HTTP answer ({type(exc).__name__})"))

    def connection_lost(self, exc: Exception | None) -> None:
        if self._draining is not None:
            self._draining.cancel()
            self._draining = None
        self.lost = True
        self.keep_alive = False
        if self.headers_done and self.until_eof and not self.finished:
            self.finished = True  # the body was delimited by the end of the connection
            self._wake()
        elif not self.finished:
            what = "connection closed before the answer ended" if self.received else "connection closed"
            self._fail(self.endpoint._lost(False, what))
        if self.counted:
            self.counted = False
            self.endpoint._forget()

    # -- httptools callbacks ---------------------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self.finished or self.parked:  # another answer in the bytes that ended this one: stop parsing
            raise _AnswerAfterAnswer
        self._new_message()

    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        self.headers[key] = f"{self.headers[key]}, {text}" if key in self.headers else text

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if 100 <= status < 200:  # an interim answer (100 Continue, 103 Early Hints): wait for the real one
            return
        self.status = status
        self.headers_done = True
        self.keep_alive = self.parser.should_keep_alive()
        chunked = "chunked" in self.headers.get("transfer-encoding", "").lower()
        self.until_eof = not chunked and "content-length" not in self.headers and status not in (204, 304)
        self._wake()

    def on_body(self, body: bytes) -> None:
        if self._draining is not None:
            return
        self.chunks.append(body)
        self.buffered += len(body)
        self.received += len(body)
        if self.received > MAX_BODY_BYTES:
            self._fail(self.endpoint._lost(False, f"answer over {MAX_BODY_BYTES} bytes"))
            return
        if self.buffered > _HIGH_WATER and not self._paused:
            self._paused = True
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if not self.headers_done:  # the end of an interim answer
            return
        self.finished = True
        if self._draining is not None:
            self._draining.cancel()
            self._draining = None
            self.endpoint._park(self, asyncio.get_running_loop().time())
            return
        self._wake()
