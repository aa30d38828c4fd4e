"""Application keys of the serving layer's aiohttp app, and switchman's response headers."""

from __future__ import annotations

from aiohttp import web

from switchman.serving.state import GatewayState

STATE = web.AppKey("switchman_state", GatewayState)

H_MODEL = "x-switchman-model"
H_REQUEST_ID = "x-switchman-request-id"
H_ROUTE = "x-switchman-route"
