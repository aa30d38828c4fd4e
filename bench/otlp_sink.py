"""A loopback stand-in for an OpenTelemetry collector: accepts OTLP/HTTP trace exports and counts them.

    .venv/bin/python bench/otlp_sink.py 4318 &      # then GET http://127.0.0.1:4318/stats
    SWITCHMAN_BENCH_OTLP=http://127.0.0.1:4318/v1/traces .venv/bin/python bench/gateway_load.py \\
        --targets switchman,switchman-lean --config bench/configs/tracing-otlp.yaml
"""

from __future__ import annotations

import sys

from aiohttp import web

COUNTS = web.AppKey("counts", dict)


async def traces(request: web.Request) -> web.Response:
    body = await request.read()
    counts = request.app[COUNTS]
    counts["posts"] += 1
    counts["bytes"] += len(body)
    return web.Response(body=b"", content_type="application/x-protobuf")


async def stats(request: web.Request) -> web.Response:
    return web.json_response(request.app[COUNTS])


def main() -> None:
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app[COUNTS] = {"posts": 0, "bytes": 0}
    app.router.add_post("/v1/traces", traces)
    app.router.add_get("/stats", stats)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]) if len(sys.argv) > 1 else 4318, print=None)


if __name__ == "__main__":
    main()
