"""The ceiling: a bare aiohttp pass-through proxy (no parsing, no routing, no logging).

Usage: python bench/passthrough.py PORT UPSTREAM_BASE_URL [asyncio|uvloop]   (binds 127.0.0.1 only)
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

SESSION = web.AppKey("session", aiohttp.ClientSession)
UPSTREAM = web.AppKey("upstream", str)
JSON = {"content-type": "application/json"}


async def proxy(request: web.Request) -> web.StreamResponse:
    url, body = request.app[UPSTREAM], await request.read()
    async with request.app[SESSION].post(url, data=body, headers=JSON) as up:
        if up.content_type != "text/event-stream":
            return web.Response(body=await up.read(), status=up.status, content_type=up.content_type)
        resp = web.StreamResponse(status=up.status, headers={"content-type": "text/event-stream"})
        await resp.prepare(request)
        async for data in up.content.iter_any():
            await resp.write(data)
        await resp.write_eof()
        return resp


async def session_ctx(app: web.Application) -> AsyncIterator[None]:
    app[SESSION] = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256))
    yield
    await app[SESSION].close()


def main() -> None:
    port, upstream = int(sys.argv[1]), sys.argv[2].rstrip("/")
    app = web.Application()
    app[UPSTREAM] = upstream + "/chat/completions"
    app.router.add_post("/v1/chat/completions", proxy)
    app.cleanup_ctx.append(session_ctx)
    loop = None
    if len(sys.argv) > 3 and sys.argv[3] == "uvloop":
        import uvloop

        loop = uvloop.new_event_loop()
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None, loop=loop)


if __name__ == "__main__":
    main()
