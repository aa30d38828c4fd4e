"""A bounded HTTP/1.1 load generator for the gateway benchmark (run as its own process).

Two clients: ``raw`` (default) sends pre-built request bytes over keep-alive connections with a small
asyncio protocol and parses only the status line, framing (content-length or chunked) and a body check,
so it costs the load machine as little as possible; ``aiohttp`` uses aiohttp's client (heavier; for
cross-checking). uvloop is used when importable.

Usage (the harness calls it): python bench/loadgen.py '{"host": ..., "port": ..., ...}'
Prints one JSON object: ok, errors, first_error, elapsed_s, latencies_ms (sorted).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from dataclasses import dataclass, field
from typing import Any

STREAM_END = b"data: [DONE]\n\n"


class BadResponse(Exception):
    pass


@dataclass
class Spec:
    host: str
    port: int
    path: str
    body: bytes
    stream: bool
    concurrency: int
    requests: int
    duration_s: float
    start_at: float  # wall-clock time all load processes start together
    client: str = "raw"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_json(cls, raw: str) -> Spec:
        d: dict[str, Any] = json.loads(raw)
        d["body"] = d["body"].encode()
        return cls(**d)


def check_body(body: bytes, stream: bool) -> None:
    if stream:
        if not body.endswith(STREAM_END) or b'"error"' in body:
            raise BadResponse("stream did not end with [DONE]: " + body[-200:].decode(errors="replace"))
    elif b'"choices"' not in body:
        raise BadResponse("no choices in body: " + body[:200].decode(errors="replace"))


class _Conn(asyncio.Protocol):
    """One keep-alive connection; one request in flight at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.closed = False
        self._reset()

    def _reset(self) -> None:
        self.status = 0
        self.head_done = False
        self.length: int | None = None
        self.chunked = False
        self.body = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's transports are not subclasses

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(BadResponse(f"connection lost: {exc!r}"))

    def data_received(self, data: bytes) -> None:
        self.buf += data
        try:
            done = self._parse()
        except BadResponse as exc:
            if self.waiter is not None and not self.waiter.done():
                self.waiter.set_exception(exc)
            return
        if done and self.waiter is not None and not self.waiter.done():
            self.waiter.set_result((self.status, bytes(self.body)))
            self._reset()

    def _parse(self) -> bool:
        buf = self.buf
        if not self.head_done:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return False
            head = bytes(buf[:end]).decode("latin-1").split("\r\n")
            del buf[: end + 4]
            try:
                self.status = int(head[0].split(" ", 2)[1])
            except (IndexError, ValueError):
                raise BadResponse(f"bad status line {head[0]!r}") from None
            for line in head[1:]:
                name, _, value = line.partition(":")
                name = name.strip().lower()
                if name == "content-length":
                    self.length = int(value)
                elif name == "transfer-encoding" and "chunked" in value.lower():
                    self.chunked = True
            self.head_done = True
        if not self.chunked:
            if self.length is None:
                raise BadResponse("response without content-length or chunked framing")
            if len(buf) < self.length:
                return False
            self.body += buf[: self.length]
            del buf[: self.length]
            return True
        while True:
            eol = buf.find(b"\r\n")
            if eol < 0:
                return False
            size = int(bytes(buf[:eol]).split(b";", 1)[0], 16)
            if len(buf) < eol + 2 + size + 2:
                return False
            self.body += buf[eol + 2 : eol + 2 + size]
            del buf[: eol + 2 + size + 2]
            if size == 0:
                return True

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(raw)
        return await self.waiter


def _raw_request(spec: Spec) -> bytes:
    head = [
        f"POST {spec.path} HTTP/1.1",
        f"Host: {spec.host}:{spec.port}",
        "Content-Type: application/json",
        f"Content-Length: {len(spec.body)}",
        *(f"{k}: {v}" for k, v in spec.headers.items()),
    ]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + spec.body


async def run(spec: Spec) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    errors = 0
    first_error: str | None = None
    issued = 0
    deadline = 0.0
    raw = _raw_request(spec)

    session: Any = None
    if spec.client == "aiohttp":
        import aiohttp

        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=spec.concurrency), headers=spec.headers
        )
    url = f"http://{spec.host}:{spec.port}{spec.path}"

    async def one_aiohttp() -> tuple[int, bytes]:
        async with session.post(url, data=spec.body, headers={"content-type": "application/json"}) as r:
            return r.status, await r.read()

    async def worker() -> None:
        nonlocal issued, errors, first_error
        conn: _Conn | None = None
        while issued < spec.requests and time.monotonic() < deadline:
            issued += 1
            t = time.perf_counter()
            try:
                if spec.client == "aiohttp":
                    status, body = await one_aiohttp()
                else:
                    if conn is None or conn.closed:
                        _, conn = await loop.create_connection(_Conn, spec.host, spec.port)
                    status, body = await conn.request(raw)
                if status != 200:
                    raise BadResponse(f"HTTP {status}: {body[:200].decode(errors='replace')}")
                check_body(body, spec.stream)
                latencies.append((time.perf_counter() - t) * 1000)
            except (TimeoutError, BadResponse, OSError, ValueError) as exc:
                errors += 1
                first_error = first_error or f"{type(exc).__name__}: {exc}"
                if conn is not None and conn.transport is not None:
                    conn.transport.close()
                conn = None
        if conn is not None and conn.transport is not None:
            conn.transport.close()

    await asyncio.sleep(max(0.0, spec.start_at - time.time()))
    deadline = time.monotonic() + spec.duration_s
    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(spec.concurrency)))
    elapsed = time.perf_counter() - t0
    if session is not None:
        await session.close()
    latencies.sort()
    return {
        "ok": len(latencies),
        "errors": errors,
        "first_error": first_error,
        "elapsed_s": elapsed,
        "latencies_ms": latencies,
    }


def main() -> None:
    spec = Spec.from_json(sys.argv[1])
    loop_factory = None
    with contextlib.suppress(ImportError):
        import uvloop

        loop_factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        print(json.dumps(runner.run(run(spec))))


if __name__ == "__main__":
    main()
