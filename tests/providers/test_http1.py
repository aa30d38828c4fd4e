"""The upstream HTTP/1.1 client (``providers/http1.py``) against raw loopback servers.

Each server is ``asyncio.start_server`` on 127.0.0.1 with a handler that reads the request and writes
crafted response bytes, so every edge case (framing, timing, closes) is exact. Nothing is mocked.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import socket
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import pytest

from switchman.errors import ConfigError, UpstreamBadResponse, UpstreamConnectionError, UpstreamTimeout
from switchman.providers import http1
from switchman.providers.http1 import Endpoint


@dataclass
class Request:
    head: bytes  # request line and headers, up to and including the blank line
    body: bytes


@dataclass
class Peer:
    """One accepted connection, as the server sees it."""

    index: int
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    eof: asyncio.Event = field(default_factory=asyncio.Event)

    async def request(self) -> Request | None:
        """The next request on this connection, or None (and ``eof`` set) when the client closed it."""
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            self.eof.set()
            return None
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        body = await self.reader.readexactly(length)
        return Request(head, body)

    async def send(self, *parts: bytes, pause: float = 0.0) -> None:
        """Write ``parts`` one after another, ``pause`` seconds apart."""
        for i, part in enumerate(parts):
            if i and pause:
                await asyncio.sleep(pause)
            self.writer.write(part)
            await self.writer.drain()

    async def until_closed(self) -> None:
        """Read (and drop) whatever comes until the client closes the connection."""
        while await self.reader.read(65536):
            pass
        self.eof.set()

    def close(self) -> None:
        self.writer.close()


Handler = Callable[["Server", Peer], Awaitable[None]]


class Server:
    """A raw loopback HTTP/1.1 server: counts connections, records requests, runs ``handler`` per
    connection (the connection is closed when the handler returns)."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.peers: list[Peer] = []
        self.requests: list[Request] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        self.port = 0

    @property
    def connections(self) -> int:
        return len(self.peers)

    def url(self, path: str = "/v1/chat") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def request(self, peer: Peer) -> Request | None:
        req = await peer.request()
        if req is not None:
            self.requests.append(req)
        return req

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        peer = Peer(len(self.peers), reader, writer)
        self.peers.append(peer)
        try:
            await self.handler(self, peer)
        except (ConnectionError, asyncio.IncompleteReadError):
            peer.eof.set()
        except asyncio.CancelledError:
            pass  # torn down at the end of the test; a cancelled handler task would be logged by asyncio
        finally:
            writer.close()
            self._tasks.discard(task)

    async def __aenter__(self) -> Server:
        self._server = await asyncio.start_server(self._on_connect, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._server is not None
        self._server.close()
        for peer in self.peers:
            peer.writer.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()


def answer(body: bytes = b"ok", *, status: str = "200 OK", headers: str = "") -> bytes:
    """A complete content-length answer."""
    return f"HTTP/1.1 {status}\r\n{headers}content-length: {len(body)}\r\n\r\n".encode() + body


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%b\r\n" % (len(data), data)


CHUNKED_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
LAST_CHUNK = b"0\r\n\r\n"


def serve_each(*answers: bytes) -> Handler:
    """A keep-alive handler: the n-th request on a connection gets ``answers[n]`` (the last one repeats)."""

    async def handler(server: Server, peer: Peer) -> None:
        n = 0
        while await server.request(peer) is not None:
            await peer.send(answers[min(n, len(answers) - 1)])
            n += 1

    return handler


def endpoint(
    server: Server,
    *,
    path: str = "/v1/chat",
    max_connections: int = 4,
    read_timeout: float = 2.0,
    keepalive_s: float = 30.0,
) -> Endpoint:
    return Endpoint(
        "up",
        server.url(path),
        {"Authorization": "Bearer k-123", "X-Custom": "v"},
        max_connections=max_connections,
        connect_timeout=1.0,
        read_timeout=read_timeout,
        keepalive_s=keepalive_s,
    )


@contextlib.asynccontextmanager
async def opened(server: Server, **options: Any) -> AsyncIterator[Endpoint]:
    """:func:`endpoint`, closed when the block ends."""
    ep = endpoint(server, **options)
    try:
        yield ep
    finally:
        await ep.aclose()


async def post(ep: Endpoint, body: bytes = b"{}", timeout: float = 5.0) -> tuple[int, bytes]:
    async with ep.post(body, timeout) as resp:
        return resp.status, await resp.read()


# -- 1. a content-length answer and the request as sent -------------------------------------------------


async def test_content_length_answer_and_the_exact_request_sent() -> None:
    reply = answer(b'{"id": 1}', status="201 Created", headers="Content-Type: application/json\r\n")
    reply = reply.replace(b"\r\n\r\n", b"\r\nX-Multi: a\r\nx-multi: b\r\n\r\n", 1)
    async with (
        Server(serve_each(reply)) as server,
        opened(server, path="/v1/chat/completions?api-version=2024&x=1") as ep,
        ep.post(b'{"q": "hello"}', 5.0) as resp,
    ):
        assert resp.status == 201
        assert resp.headers == {
            "content-type": "application/json",
            "content-length": "9",
            "x-multi": "a, b",
        }
        assert await resp.read() == b'{"id": 1}'
    assert server.requests == [
        Request(
            b"POST /v1/chat/completions?api-version=2024&x=1 HTTP/1.1\r\n"
            + f"host: 127.0.0.1:{server.port}\r\n".encode()
            + b"user-agent: switchman\r\n"
            b"accept-encoding: identity\r\n"
            b"connection: keep-alive\r\n"
            b"authorization: Bearer k-123\r\n"
            b"x-custom: v\r\n"
            b"content-length: 14\r\n"
            b"\r\n",
            b'{"q": "hello"}',
        )
    ]


async def test_configured_headers_replace_the_defaults_and_framing_headers_are_ignored() -> None:
    async with Server(serve_each(answer())) as server:
        ep = Endpoint(
            "up",
            server.url("/"),
            {"User-Agent": "mine", "Host": "evil", "Content-Length": "1", "Transfer-Encoding": "chunked"},
            max_connections=1,
            connect_timeout=1.0,
            read_timeout=1.0,
        )
        try:
            assert await post(ep, b"") == (200, b"ok")
        finally:
            await ep.aclose()
    assert server.requests[0].head == (
        f"POST / HTTP/1.1\r\nhost: 127.0.0.1:{server.port}\r\nuser-agent: mine\r\n".encode()
        + b"accept-encoding: identity\r\nconnection: keep-alive\r\ncontent-length: 0\r\n\r\n"
    )
    assert server.requests[0].body == b""


# -- 2. chunked answers ---------------------------------------------------------------------------------


def chunked_handler(pause: float) -> Handler:
    async def handler(server: Server, peer: Peer) -> None:
        while await server.request(peer) is not None:
            await peer.send(
                CHUNKED_HEAD, chunk(b"data: one\n\n"), chunk(b"data: two\n\n"), LAST_CHUNK, pause=pause
            )

    return handler


async def test_chunked_answer_read_whole() -> None:
    async with Server(chunked_handler(0.02)) as server, opened(server) as ep, ep.post(b"{}", 5.0) as resp:
        assert resp.status == 200
        assert resp.headers["transfer-encoding"] == "chunked"
        assert await resp.read() == b"data: one\n\ndata: two\n\n"


async def test_chunked_answer_streamed_with_readany_until_empty() -> None:
    async with Server(chunked_handler(0.05)) as server, opened(server) as ep:
        pieces: list[bytes] = []
        async with ep.post(b"{}", 5.0, stream=True) as resp:
            while piece := await resp.readany():
                pieces.append(piece)
            assert await resp.readany() == b""  # and stays at the end
        assert pieces == [b"data: one\n\n", b"data: two\n\n"]
        assert await post(ep) == (200, b"data: one\n\ndata: two\n\n")
    assert server.connections == 1


async def test_large_chunked_answer_is_read_whole_with_flow_control() -> None:
    """More than the 1 MiB high-water mark: reading pauses and resumes, nothing is lost."""
    payload = bytes(range(256)) * (12 * 1024)  # 3 MiB
    parts = [chunk(payload[i : i + 100_000]) for i in range(0, len(payload), 100_000)]

    async def handler(server: Server, peer: Peer) -> None:
        while await server.request(peer) is not None:
            await peer.send(CHUNKED_HEAD, *parts, LAST_CHUNK)

    async with Server(handler) as server, opened(server) as ep:
        assert await post(ep) == (200, payload)
        received = bytearray()
        async with ep.post(b"{}", 5.0, stream=True) as resp:
            await asyncio.sleep(0.05)  # let more than the high-water mark arrive unread
            while piece := await resp.readany():
                received += piece
        assert received == payload
    assert server.connections == 1


# -- 3. an answer delimited by the end of the connection ------------------------------------------------


async def test_answer_delimited_by_connection_end_is_complete_and_not_reused() -> None:
    async def handler(server: Server, peer: Peer) -> None:
        if await server.request(peer) is not None:
            await peer.send(
                b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\n", b"part1,", b"part2", pause=0.03
            )

    async with Server(handler) as server, opened(server) as ep:
        assert await post(ep) == (200, b"part1,part2")
        assert await post(ep) == (200, b"part1,part2")
    assert server.connections == 2
    assert len(server.requests) == 2


# -- 4. keep-alive --------------------------------------------------------------------------------------


async def test_sequential_posts_reuse_one_connection() -> None:
    async with Server(serve_each(answer(b"first"), answer(b"second"))) as server, opened(server) as ep:
        assert await post(ep, b"1") == (200, b"first")
        assert await post(ep, b"2") == (200, b"second")
    assert server.connections == 1
    assert [r.body for r in server.requests] == [b"1", b"2"]


async def test_connection_close_in_the_answer_opens_a_new_connection_next() -> None:
    async with (
        Server(serve_each(answer(headers="Connection: close\r\n"), answer())) as server,
        opened(server) as ep,
    ):
        assert await post(ep) == (200, b"ok")
        await asyncio.wait_for(server.peers[0].eof.wait(), 1.0)  # the client closed it
        assert await post(ep) == (200, b"ok")
    assert server.connections == 2


async def test_connection_idle_past_keepalive_is_not_reused() -> None:
    async with Server(serve_each(answer())) as server, opened(server, keepalive_s=0.05) as ep:
        assert await post(ep) == (200, b"ok")
        await asyncio.sleep(0.1)
        assert await post(ep) == (200, b"ok")
        await asyncio.wait_for(server.peers[0].eof.wait(), 1.0)
    assert server.connections == 2


# -- 5. interim answers ---------------------------------------------------------------------------------


async def test_interim_100_continue_then_the_real_answer() -> None:
    async def handler(server: Server, peer: Peer) -> None:
        while await server.request(peer) is not None:
            await peer.send(b"HTTP/1.1 100 Continue\r\n\r\n", answer(b"real"), pause=0.03)

    async with Server(handler) as server, opened(server) as ep:
        async with ep.post(b"{}", 5.0) as resp:
            assert resp.status == 200
            assert resp.headers == {"content-length": "4"}
            assert await resp.read() == b"real"
        assert await post(ep) == (200, b"real")  # the parser is in step for the next exchange
    assert server.connections == 1


async def test_interim_103_headers_do_not_leak_into_the_answer() -> None:
    interim = b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
    async with (
        Server(serve_each(interim + answer(b"real"))) as server,
        opened(server) as ep,
        ep.post(b"{}", 5.0) as resp,
    ):
        assert (resp.status, resp.headers) == (200, {"content-length": "4"})
        assert await resp.read() == b"real"


# -- 6. content-encoding --------------------------------------------------------------------------------


async def test_gzip_answer_is_decompressed() -> None:
    text = b'{"choices": ["hello"]}' * 200
    reply = answer(gzip.compress(text), headers="Content-Encoding: gzip\r\n")
    async with Server(serve_each(reply)) as server, opened(server) as ep, ep.post(b"{}", 5.0) as resp:
        assert resp.headers["content-encoding"] == "gzip"
        assert await resp.read() == text


async def test_gzip_chunked_stream_is_decompressed_piece_by_piece() -> None:
    text = b"".join(b"data: %d\n\n" % i for i in range(500))
    packed = gzip.compress(text)
    half = len(packed) // 2

    async def handler(server: Server, peer: Peer) -> None:
        while await server.request(peer) is not None:
            head = CHUNKED_HEAD.replace(b"\r\n\r\n", b"\r\ncontent-encoding: gzip\r\n\r\n")
            await peer.send(head, chunk(packed[:half]), chunk(packed[half:]), LAST_CHUNK, pause=0.03)

    async with Server(handler) as server, opened(server) as ep:
        out = bytearray()
        async with ep.post(b"{}", 5.0, stream=True) as resp:
            while piece := await resp.readany():
                out += piece
        assert out == text


async def test_deflate_answer_is_decompressed() -> None:
    text = b"deflated " * 100
    async with Server(
        serve_each(answer(zlib.compress(text), headers="Content-Encoding: deflate\r\n"))
    ) as server:
        ep = endpoint(server)
        try:
            assert await post(ep) == (200, text)
        finally:
            await ep.aclose()


async def test_unknown_content_encoding_is_a_bad_response_and_closes_the_connection() -> None:
    async with (
        Server(serve_each(answer(b"\x1b\x00", headers="Content-Encoding: br\r\n"))) as server,
        opened(server) as ep,
    ):
        with pytest.raises(UpstreamBadResponse, match="content-encoding 'br'"):
            async with ep.post(b"{}", 5.0):
                pass
        await asyncio.wait_for(server.peers[0].eof.wait(), 1.0)


async def test_invalid_gzip_is_a_bad_response() -> None:
    async with (
        Server(serve_each(answer(b"not gzip at all", headers="Content-Encoding: gzip\r\n"))) as server,
        opened(server) as ep,
    ):
        with pytest.raises(UpstreamBadResponse, match="not valid gzip"):
            await post(ep)


# -- 7. connection failures -----------------------------------------------------------------------------


async def test_server_closing_before_answering_is_a_connection_error() -> None:
    async def handler(server: Server, peer: Peer) -> None:
        await server.request(peer)  # then the connection is closed

    async with Server(handler) as server, opened(server) as ep:
        with pytest.raises(UpstreamConnectionError, match=r"up: connection failed: connection closed$"):
            await post(ep)


async def test_server_closing_mid_body_is_a_connection_error() -> None:
    async def handler(server: Server, peer: Peer) -> None:
        if await server.request(peer) is not None:
            await peer.send(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc")

    async with Server(handler) as server, opened(server) as ep:
        with pytest.raises(UpstreamConnectionError, match="connection closed before the answer ended"):
            await post(ep)


async def test_connection_refused_is_a_connection_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed on leaving: nothing listens there
    ep = Endpoint(
        "up", f"http://127.0.0.1:{port}/v1", {}, max_connections=1, connect_timeout=1.0, read_timeout=1.0
    )
    try:
        with pytest.raises(UpstreamConnectionError, match="up: connection failed: ConnectionRefusedError"):
            await post(ep)
        with pytest.raises(UpstreamConnectionError, match="up: stream connection failed"):
            async with ep.post(b"{}", 5.0, stream=True):
                pass
    finally:
        await ep.aclose()


async def test_malformed_status_line_is_a_connection_error() -> None:
    async with (
        Server(serve_each(b"HTTP/1.1 2x0 OK\r\ncontent-length: 0\r\n\r\n")) as server,
        opened(server) as ep,
    ):
        with pytest.raises(UpstreamConnectionError, match="malformed HTTP answer"):
            await post(ep)
        await asyncio.wait_for(server.peers[0].eof.wait(), 1.0)


# -- 8. timeouts ----------------------------------------------------------------------------------------


def stall_after(*parts: bytes) -> Handler:
    async def handler(server: Server, peer: Peer) -> None:
        if await server.request(peer) is not None:
            await peer.send(*parts)
            await peer.until_closed()

    return handler


async def timed(ep: Endpoint, *, stream: bool = False, timeout: float = 5.0) -> tuple[float, UpstreamTimeout]:
    loop = asyncio.get_running_loop()
    start = loop.time()
    with pytest.raises(UpstreamTimeout) as info:
        async with ep.post(b"{}", timeout, stream=stream) as resp:
            await resp.read()
    return loop.time() - start, info.value


async def test_headers_then_stall_times_out_after_read_timeout() -> None:
    async with (
        Server(stall_after(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc")) as server,
        opened(server, read_timeout=0.2) as ep,
    ):
        elapsed, error = await timed(ep)
        assert 0.18 <= elapsed < 1.0
        assert str(error) == "up: upstream timed out (no complete answer in time)"
        await asyncio.wait_for(server.peers[0].eof.wait(), 1.0)  # the client closed it


async def test_no_headers_at_all_times_out_after_read_timeout() -> None:
    async with Server(stall_after()) as server, opened(server, read_timeout=0.2) as ep:
        elapsed, error = await timed(ep)
        assert 0.18 <= elapsed < 1.0
        assert str(error) == "up: upstream timed out (no answer in time)"


async def test_stalled_stream_says_stream_stalled() -> None:
    async with (
        Server(stall_after(CHUNKED_HEAD, chunk(b"data: one\n\n"))) as server,
        opened(server, read_timeout=0.2) as ep,
    ):
        elapsed, error = await timed(ep, stream=True)
        assert 0.18 <= elapsed < 1.0
        assert str(error) == "up: upstream timed out (stream stalled)"


def trickle(count: int, pause: float) -> Handler:
    async def handler(server: Server, peer: Peer) -> None:
        while await server.request(peer) is not None:
            await peer.send(CHUNKED_HEAD, *[chunk(b"x")] * count, LAST_CHUNK, pause=pause)

    return handler


async def test_read_timeout_counts_from_the_last_byte() -> None:
    async with Server(trickle(6, 0.08)) as server:  # ~0.5 s in all, never 0.2 s without a byte
        ep = endpoint(server, read_timeout=0.2)
        try:
            assert await post(ep) == (200, b"x" * 6)
        finally:
            await ep.aclose()


async def test_the_exchange_deadline_bounds_a_trickling_answer() -> None:
    async with Server(trickle(20, 0.05)) as server, opened(server, read_timeout=0.2) as ep:
        elapsed, error = await timed(ep, timeout=0.3)
        assert 0.28 <= elapsed < 1.0
        assert str(error) == "up: upstream timed out (no complete answer in time)"


# -- 9. the pool limit ----------------------------------------------------------------------------------


async def test_pool_limit_makes_the_second_post_wait_then_reuse() -> None:
    async def handler(server: Server, peer: Peer) -> None:
        while (req := await server.request(peer)) is not None:
            await asyncio.sleep(0.05)
            await peer.send(answer(req.body))

    async with Server(handler) as server, opened(server, max_connections=1) as ep:
        results = list(await asyncio.gather(post(ep, b"a"), post(ep, b"b")))
    assert results == [(200, b"a"), (200, b"b")]
    assert server.connections == 1
    assert [r.body for r in server.requests] == [b"a", b"b"]


async def test_pool_limit_waiter_times_out() -> None:
    release = asyncio.Event()

    async def handler(server: Server, peer: Peer) -> None:
        while await server.request(peer) is not None:
            await release.wait()
            await peer.send(answer())

    async with Server(handler) as server, opened(server, max_connections=1) as ep:
        first = asyncio.create_task(post(ep))
        while not server.requests:
            await asyncio.sleep(0.01)
        loop = asyncio.get_running_loop()
        start = loop.time()
        with pytest.raises(UpstreamTimeout, match=r"up: upstream timed out \(no free connection in time\)"):
            await post(ep, timeout=0.1)
        assert 0.09 <= loop.time() - start < 1.0
        release.set()
        assert await first == (200, b"ok")
        assert await post(ep) == (200, b"ok")  # the pool is still whole
    assert server.connections == 1


# -- 10. leaving an exchange early ----------------------------------------------------------------------


def first_chunk_then(delay: float, *rest: bytes) -> Handler:
    async def handler(server: Server, peer: Peer) -> None:
        while await server.request(peer) is not None:
            await peer.send(CHUNKED_HEAD, chunk(b"data: [DONE]\n\n"))
            await asyncio.sleep(delay)
            await peer.send(*rest)

    return handler


async def test_leaving_early_without_error_parks_the_connection_when_the_end_arrives() -> None:
    async with Server(first_chunk_then(0.05, LAST_CHUNK)) as server, opened(server, max_connections=1) as ep:
        async with ep.post(b"{}", 5.0, stream=True) as resp:
            assert await resp.readany() == b"data: [DONE]\n\n"
        assert await post(ep) == (200, b"data: [DONE]\n\n")  # waits for the terminator, then reuses
    assert server.connections == 1
    assert len(server.requests) == 2


async def test_leaving_early_when_the_end_never_comes_closes_after_read_timeout() -> None:
    async with (
        Server(stall_after(CHUNKED_HEAD, chunk(b"data: [DONE]\n\n"))) as server,
        opened(server, max_connections=1, read_timeout=0.2) as ep,
    ):
        loop = asyncio.get_running_loop()
        async with ep.post(b"{}", 5.0, stream=True) as resp:
            assert await resp.readany() == b"data: [DONE]\n\n"
        start = loop.time()
        await asyncio.wait_for(server.peers[0].eof.wait(), 1.0)
        assert 0.15 <= loop.time() - start < 1.0


async def test_leaving_with_an_exception_closes_the_connection() -> None:
    async with Server(first_chunk_then(0.05, LAST_CHUNK)) as server, opened(server) as ep:
        with pytest.raises(RuntimeError, match="client went away"):
            async with ep.post(b"{}", 5.0, stream=True) as resp:
                assert await resp.readany() == b"data: [DONE]\n\n"
                raise RuntimeError("client went away")
        await asyncio.wait_for(server.peers[0].eof.wait(), 1.0)
        assert await post(ep) == (200, b"data: [DONE]\n\n")
    assert server.connections == 2


async def test_an_unasked_answer_behind_a_drained_one_is_not_trusted() -> None:
    async with (
        Server(first_chunk_then(0.05, LAST_CHUNK + answer(b"unasked"))) as server,
        opened(server, max_connections=1) as ep,
    ):
        async with ep.post(b"{}", 5.0, stream=True) as resp:
            assert await resp.readany() == b"data: [DONE]\n\n"
        await asyncio.wait_for(server.peers[0].eof.wait(), 1.0)
        assert await post(ep) == (200, b"data: [DONE]\n\n")
    assert server.connections == 2


# -- 11. an idle connection closed by the server --------------------------------------------------------


async def test_idle_connection_closed_by_the_server_is_dropped() -> None:
    async def handler(server: Server, peer: Peer) -> None:
        if await server.request(peer) is not None:
            await peer.send(answer(headers="Connection: keep-alive\r\n"))  # then closes anyway

    async with Server(handler) as server, opened(server, max_connections=1) as ep:
        assert await post(ep) == (200, b"ok")
        await asyncio.sleep(0.05)  # the server's close reaches the idle connection
        assert await post(ep) == (200, b"ok")
    assert server.connections == 2


async def test_a_second_answer_in_the_same_packet_is_not_trusted() -> None:
    async with (
        Server(serve_each(answer(b"ok") + answer(b"unasked"), answer(b"ok"))) as server,
        opened(server) as ep,
    ):
        assert await post(ep) == (200, b"ok")
        assert await post(ep) == (200, b"ok")
    assert server.connections == 2


async def test_an_unasked_answer_on_an_idle_connection_is_not_taken_for_the_next() -> None:
    async def handler(server: Server, peer: Peer) -> None:
        while await server.request(peer) is not None:
            await peer.send(answer(b"ok"))
            if peer.index == 0:
                await asyncio.sleep(0.02)
                await peer.send(b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\n\r\n")

    async with Server(handler) as server, opened(server) as ep:
        assert await post(ep) == (200, b"ok")
        await asyncio.sleep(0.1)
        assert await post(ep) == (200, b"ok")
        await asyncio.wait_for(server.peers[0].eof.wait(), 1.0)
    assert server.connections == 2


# -- 12. configuration errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{"x-evil": "a\r\ninjected: 1"}, {"x-evil": "a\nb"}, {"x-evil": "a\0"}, {"bad:name": "v"}, {"": "v"}],
)
def test_endpoint_rejects_forbidden_header_characters(headers: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match=r"up: header .* has a forbidden character"):
        Endpoint("up", "http://127.0.0.1:1/v1", headers, max_connections=1, connect_timeout=1, read_timeout=1)


@pytest.mark.parametrize("url", ["ftp://example.com/v1", "example.com/v1", "http:///v1", "unix:/tmp/sock"])
def test_endpoint_rejects_non_http_urls(url: str) -> None:
    with pytest.raises(ConfigError, match=r"up: base_url must be an http\(s\) URL"):
        Endpoint("up", url, {}, max_connections=1, connect_timeout=1, read_timeout=1)


# -- 13. aclose -----------------------------------------------------------------------------------------


async def test_aclose_closes_idle_connections() -> None:
    async with Server(serve_each(answer())) as server:
        ep = endpoint(server)
        assert list(await asyncio.gather(post(ep), post(ep))) == [(200, b"ok"), (200, b"ok")]
        assert server.connections == 2
        await ep.aclose()
        await asyncio.wait_for(asyncio.gather(*(p.eof.wait() for p in server.peers)), 1.0)


async def test_aclose_closes_a_busy_connection_when_its_exchange_ends() -> None:
    async with Server(first_chunk_then(0.05, LAST_CHUNK)) as server:
        ep = endpoint(server)
        async with ep.post(b"{}", 5.0, stream=True) as resp:
            await ep.aclose()
            assert not server.peers[0].eof.is_set()
            assert await resp.read() == b"data: [DONE]\n\n"
        await asyncio.wait_for(server.peers[0].eof.wait(), 1.0)


# -- 14. the body size limit ----------------------------------------------------------------------------


async def test_answer_over_max_body_bytes_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http1, "MAX_BODY_BYTES", 1000)
    async with Server(serve_each(answer(b"y" * 1000), answer(b"z" * 1001))) as server, opened(server) as ep:
        assert await post(ep) == (200, b"y" * 1000)
        with pytest.raises(UpstreamConnectionError, match="answer over 1000 bytes"):
            await post(ep)


async def test_chunked_stream_over_max_body_bytes_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http1, "MAX_BODY_BYTES", 1000)

    async def handler(server: Server, peer: Peer) -> None:
        while await server.request(peer) is not None:
            await peer.send(CHUNKED_HEAD, *[chunk(b"w" * 300)] * 5, LAST_CHUNK, pause=0.01)

    async with Server(handler) as server, opened(server) as ep:
        got = bytearray()
        with pytest.raises(UpstreamConnectionError, match="answer over 1000 bytes"):
            async with ep.post(b"{}", 5.0, stream=True) as resp:
                while piece := await resp.readany():
                    got += piece
        assert len(got) <= 1000


async def test_gzip_answer_over_max_body_bytes_once_decompressed_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(http1, "MAX_BODY_BYTES", 1000)
    bomb = gzip.compress(b"\0" * 100_000)  # ~130 bytes on the wire
    assert len(bomb) < 1000
    async with (
        Server(serve_each(answer(bomb, headers="Content-Encoding: gzip\r\n"))) as server,
        opened(server) as ep,
    ):
        with pytest.raises(UpstreamConnectionError, match="answer over 1000 bytes"):
            await post(ep)


def test_non_ascii_header_or_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="header 'x-team' is not ASCII"):
        Endpoint(
            "p",
            "http://127.0.0.1:1/v1",
            {"x-team": "équipe"},
            max_connections=1,
            connect_timeout=1,
            read_timeout=1,
        )
    with pytest.raises(ConfigError, match="base_url must be ASCII"):
        Endpoint("p", "http://127.0.0.1:1/v1/é", {}, max_connections=1, connect_timeout=1, read_timeout=1)
