"""``/dashboard``: the aiohttp handlers (admin key, window parsing, ledger reads in a worker thread).

Access: when ``dashboard.admin_key`` is set, a request needs ``Authorization: Bearer <key>`` or the
cookie set by signing in on the page's form (HttpOnly, SameSite=Strict).
"""

from __future__ import annotations

import asyncio
import hmac
import re
import time
from html import escape

from aiohttp import web
from sqlalchemy.engine import Engine

from switchman.config.model import Config
from switchman.dashboard.data import collect
from switchman.dashboard.page import STYLE, WINDOWS, render

COOKIE = "switchman_admin"
_SPAN = re.compile(r"^(\d{1,5})([mhd])$")
_UNIT = {"m": 60, "h": 3600, "d": 86400}


class Dashboard:
    def __init__(self, config: Config) -> None:
        key = config.dashboard.admin_key
        self.admin_key = key.get_secret_value() if key is not None else None
        self.ledger = config.ledger
        self._engine: Engine | None = None

    def engine(self) -> Engine:
        if self._engine is None:
            from switchman.ledger import db

            self._engine = db.make_engine(db.ledger_url(self.ledger), busy_timeout_s=self.ledger.timeout_s)
        return self._engine

    def allowed(self, request: web.Request) -> bool:
        if self.admin_key is None:
            return True
        auth = request.headers.get("Authorization", "")
        given = auth[7:] if auth.startswith("Bearer ") else request.cookies.get(COOKIE, "")
        return hmac.compare_digest(given.encode(), self.admin_key.encode())

    async def close(self, _app: web.Application) -> None:
        if self._engine is not None:
            self._engine.dispose()


DASHBOARD = web.AppKey("switchman_dashboard", Dashboard)


def _login_page(message: str = "") -> str:
    note = f"<p style='color:#b91c1c'>{escape(message)}</p>" if message else ""
    return (
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>switchman: sign in</title>"
        f"<style>{STYLE}</style></head><body><main><h1>switchman dashboard</h1>{note}"
        "<form method=post action=/dashboard/login><label>Admin key "
        "<input type=password name=key autocomplete=current-password></label> "
        "<button>Sign in</button></form></main></body></html>"
    )


async def page(request: web.Request) -> web.Response:
    dash = request.app[DASHBOARD]
    if not dash.allowed(request):
        return web.Response(text=_login_page(), status=401, content_type="text/html")
    window = request.query.get("since", "24h")
    m = _SPAN.match(window)
    if m is None:
        window, m = "24h", _SPAN.match("24h")
    assert m is not None
    until = time.time() + 1
    since = until - int(m.group(1)) * _UNIT[m.group(2)]
    from sqlalchemy.exc import SQLAlchemyError

    try:
        data = await asyncio.to_thread(collect, dash.engine(), since, until)
    except SQLAlchemyError as exc:
        text = f"the ledger database is not readable right now ({type(exc).__name__})"
        return web.Response(text=text, status=503)
    html = render(data, window if window in WINDOWS else "")
    return web.Response(
        text=html, content_type="text/html", headers={"Cache-Control": "no-store", "X-Frame-Options": "DENY"}
    )


async def login(request: web.Request) -> web.Response:
    dash = request.app[DASHBOARD]
    form = await request.post()
    key = str(form.get("key", ""))
    if dash.admin_key is None or not hmac.compare_digest(key.encode(), dash.admin_key.encode()):
        return web.Response(text=_login_page("wrong key"), status=401, content_type="text/html")
    resp = web.HTTPSeeOther("/dashboard")
    resp.set_cookie(COOKIE, key, httponly=True, samesite="Strict", path="/dashboard")
    raise resp


def add_dashboard(app: web.Application, config: Config) -> None:
    dash = Dashboard(config)
    app[DASHBOARD] = dash
    app.router.add_get("/dashboard", page)
    app.router.add_post("/dashboard/login", login)
    app.on_cleanup.append(dash.close)
