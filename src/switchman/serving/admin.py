"""Management endpoints for virtual keys, behind the admin key (``auth.admin_key``).

``POST /admin/keys`` (create; the answer holds the secret, the only time it is shown),
``GET /admin/keys`` (list) and ``DELETE /admin/keys/{id}`` (revoke). Without an admin key configured
the endpoints answer 404.
"""

from __future__ import annotations

import hmac

import orjson
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from switchman.config.limits import KeyLimits
from switchman.errors import AuthenticationFailed, InvalidRequest, NotFound, SwitchmanError
from switchman.keys import make_key
from switchman.serving.auth import presented_secret
from switchman.serving.keys import STATE
from switchman.serving.routes import error_response, json_response


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    tier: str | None = None
    models: list[str] | None = None
    routers: list[str] | None = None
    rpm: int | None = Field(None, gt=0)
    tpm: int | None = Field(None, gt=0)
    daily_usd: float | None = Field(None, gt=0)
    monthly_usd: float | None = Field(None, gt=0)


def _check_admin(request: web.Request) -> None:
    admin = request.app[STATE].runtime.config.auth.admin_key
    if admin is None:
        raise NotFound("the admin API is disabled (set auth.admin_key)")
    given = presented_secret(request.headers)
    if given is None or not hmac.compare_digest(given.encode(), admin.get_secret_value().encode()):
        raise AuthenticationFailed("admin key required", code="invalid_api_key")


async def create_key(request: web.Request) -> web.Response:
    from switchman.serving.guard import GUARD

    try:
        _check_admin(request)
        try:
            body = KeyCreate.model_validate(orjson.loads(await request.read()))
        except (orjson.JSONDecodeError, ValidationError) as exc:
            raise InvalidRequest(f"invalid key spec: {exc}") from None
        limits = KeyLimits(rpm=body.rpm, tpm=body.tpm, daily_usd=body.daily_usd, monthly_usd=body.monthly_usd)
        key, secret = make_key(
            body.name, tier=body.tier, models=body.models, routers=body.routers, limits=limits
        )
        cache = request.app[GUARD].keys()
        await cache.store.add(key)
        await cache.refresh()
        return json_response({**key.public(), "secret": secret}, 201)
    except SwitchmanError as exc:
        return error_response(exc)


async def list_keys(request: web.Request) -> web.Response:
    from switchman.serving.guard import GUARD

    try:
        _check_admin(request)
        keys = await request.app[GUARD].keys().store.all()
        return json_response({"object": "list", "data": [k.public() for k in keys]})
    except SwitchmanError as exc:
        return error_response(exc)


async def revoke_key(request: web.Request) -> web.Response:
    from switchman.serving.guard import GUARD

    try:
        _check_admin(request)
        cache = request.app[GUARD].keys()
        key = await cache.store.revoke(request.match_info["key_id"])
        if key is None:
            raise NotFound(f"no key '{request.match_info['key_id']}'")
        await cache.refresh()
        return json_response(key.public())
    except SwitchmanError as exc:
        return error_response(exc)


def add_admin_routes(app: web.Application) -> None:
    app.router.add_post("/admin/keys", create_key)
    app.router.add_get("/admin/keys", list_keys)
    app.router.add_delete("/admin/keys/{key_id}", revoke_key)
