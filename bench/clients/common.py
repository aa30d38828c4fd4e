"""A bare aiohttp server that forwards each POST through the client under test (non-streaming only).

Each ``pt_<client>.py`` here is ``bench/passthrough.py`` with its upstream client swapped, started by
``bench/instructions.py`` as ``SCRIPT PORT UPSTREAM uvloop``. The comparison that chose switchman's
upstream client (docs/benchmarks.md, "The upstream client"):

    python -m venv /tmp/clients && /tmp/clients/bin/pip install -e . aiosonic pyreqwest rnet
    /tmp/clients/bin/python bench/instructions.py bench/configs/lean.yaml \\
        aiohttp=bench/passthrough.py aiosonic=bench/clients/pt_aiosonic.py \\
        pyreqwest=bench/clients/pt_pyreqwest.py rnet=bench/clients/pt_rnet.py \\
        switchman-http1=bench/clients/pt_http1.py canned=bench/clients/canned.py --n 1000
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiohttp import web

Fetch = Callable[[Any, str, bytes], Awaitable[tuple[int, bytes]]]


def run(make_client: Callable[[], Awaitable[Any]], fetch: Fetch) -> None:
    port, upstream = int(sys.argv[1]), sys.argv[2].rstrip("/")
    url = upstream + "/chat/completions"
    app = web.Application()
    holder: dict[str, Any] = {}

    async def proxy(request: web.Request) -> web.Response:
        status, data = await fetch(holder["client"], url, await request.read())
        return web.Response(body=data, status=status, content_type="application/json")

    async def client_ctx(app: web.Application) -> AsyncIterator[None]:
        holder["client"] = await make_client()
        yield

    app.router.add_post("/v1/chat/completions", proxy)
    app.cleanup_ctx.append(client_ctx)
    import uvloop

    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None, loop=uvloop.new_event_loop())
