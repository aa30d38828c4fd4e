"""``create_app``: the gateway's aiohttp application (no module-level app)."""

from __future__ import annotations

import logging
from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Handler

from switchman.config.model import Config
from switchman.serving import routes
from switchman.serving.guard import attach_limits
from switchman.serving.keys import STATE
from switchman.serving.observe import attach_observability
from switchman.serving.runtime import Runtime
from switchman.serving.state import GatewayState

log = logging.getLogger("switchman.serving")


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The outer boundary: any unexpected failure becomes a logged, generic OpenAI-shaped 500."""
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except web.HTTPException as exc:
        if exc.status >= 400:
            return routes.json_response(
                {
                    "error": {
                        "message": exc.reason,
                        "type": "invalid_request_error",
                        "param": None,
                        "code": None,
                    }
                },
                exc.status,
            )
        raise
    except Exception:
        log.exception("unhandled error", extra={"path": request.path})
        return routes.error_response(RuntimeError())


def create_app(config: Config, *, config_path: Path | None = None) -> web.Application:
    runtime = Runtime.build(config)
    state = GatewayState(runtime=runtime, config_path=config_path)
    # aiohttp's own limit sits just above ours so that our handler produces the OpenAI-shaped 413.
    app = web.Application(client_max_size=config.server.max_body_bytes + 1, middlewares=[_errors])
    app[STATE] = state
    attach_limits(app, state, config)
    attach_observability(app, state, config)
    app.router.add_post("/v1/chat/completions", routes.chat_completions)
    app.router.add_post("/chat/completions", routes.chat_completions)
    app.router.add_get("/v1/models", routes.list_models)
    app.router.add_get("/healthz", routes.healthz)
    app.router.add_get("/readyz", routes.readyz)

    async def _start(app: web.Application) -> None:
        for sink in app[STATE].sinks:
            await sink.start()

    async def _close(app: web.Application) -> None:
        for sink in app[STATE].sinks:
            await sink.close()
        await app[STATE].runtime.aclose()

    app.on_startup.append(_start)
    app.on_cleanup.append(_close)
    if config.simulated:
        log.warning(
            "no provider keys in the environment: serving SIMULATED models "
            "(sim-small, sim-medium, sim-large); set OPENAI_API_KEY and/or ANTHROPIC_API_KEY "
            "or pass --config for real models"
        )
    return app
