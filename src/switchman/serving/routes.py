"""HTTP handlers (thin): parse, build RequestInfo, decide, dispatch, answer."""

from __future__ import annotations

import dataclasses
import logging
import random
import time
from typing import Any

import orjson
from aiohttp import web

from switchman.catalog import Catalog
from switchman.dispatch import CallTrace
from switchman.errors import InvalidRequest, RequestTooLarge, SwitchmanError, retry_after_of, to_openai_error
from switchman.records import CallRecord
from switchman.routing.decision import Decision
from switchman.routing.explain import explain_log, short_route
from switchman.routing.request import LatencyClass, RequestInfo
from switchman.serving.guard import GUARD
from switchman.serving.keys import H_MODEL, H_REQUEST_ID, H_ROUTE, STATE
from switchman.serving.logs import info_line
from switchman.serving.runtime import Runtime
from switchman.serving.streaming import stream_answer
from switchman.wire import ChatRequest, models_list_json, parse_chat_request

log = logging.getLogger("switchman.request")


def new_request_id() -> str:
    """``req_`` + the time in milliseconds (12 hex digits) + 64 random bits (16 hex digits).

    Time first, so ids sort by arrival and the ledger's primary-key index grows at its end instead of
    taking each batch of inserts at random places (fewer pages rewritten per batch); 64 random bits keep
    ids from different processes apart within a millisecond. Not a secret, so the process's Mersenne
    Twister (seeded from the OS, re-seeded in forked children) rather than ``secrets`` (a system call).
    """
    return f"req_{int(time.time() * 1000):012x}{random.getrandbits(64):016x}"


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=orjson.dumps(data), status=status, content_type="application/json", headers=headers
    )


def error_response(exc: BaseException, request_id: str | None = None) -> web.Response:
    status, body = to_openai_error(exc)
    headers = {H_REQUEST_ID: request_id} if request_id else {}
    retry_after = retry_after_of(exc)
    if retry_after is not None and status in (429, 503):
        headers["retry-after"] = str(max(1, round(retry_after)))
    return json_response(body, status, headers)


def _request_info(runtime: Runtime, req: ChatRequest, headers: Any) -> RequestInfo:
    requested, threshold = runtime.split_router(req.model)
    md = req.metadata
    latency = headers.get("x-switchman-latency") or md.get("latency")
    if latency is not None and latency not in ("interactive", "batch"):
        raise InvalidRequest(
            "x-switchman-latency must be 'interactive' or 'batch'", param="x-switchman-latency"
        )
    lat: LatencyClass | None = latency  # type: ignore[assignment]
    return RequestInfo(
        request=req,
        requested_model=requested,
        threshold=threshold,
        tier=headers.get("x-switchman-tier") or md.get("tier"),
        latency=lat,
        task=headers.get("x-switchman-task") or md.get("task"),
        metadata=md,
    )


async def chat_completions(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    runtime = state.runtime
    runtime.enter()
    t0 = time.perf_counter()
    request_id = new_request_id()
    record = CallRecord(request_id=request_id, started=time.time(), requested_model="", stream=False)
    decided: list[Decision] = []
    try:
        return await _chat(request, runtime, record, t0, decided)
    except SwitchmanError as exc:
        record.status, record.error = to_openai_error(exc)[0], type(exc).__name__
        return error_response(exc, request_id)
    finally:
        record.finish(t0)
        runtime.leave()
        state.submit(record)
        if runtime.config.server.log_requests:
            _log_request(record, decided[0] if decided else None)


def _log_request(record: CallRecord, decision: Decision | None) -> None:
    """One JSON log line per request: the call record and the full routing explanation.

    Both are serialised by orjson in the line's one ``dumps``: the record as the dataclass it is, the
    decision as :func:`explain_log` gives it (the bytes of ``explain_json``, without its copies). Prompt
    and response bodies (kept for the ledger when enabled) never go to the log.
    """
    if record.prompt_body is not None or record.response_body is not None:
        record = dataclasses.replace(record, prompt_body=None, response_body=None)
    if decision is None:
        info_line(log, "request", {"request_id": record.request_id, "call": record})
        return
    # the record's route is this decision's short form (set from it in _chat) unless the request
    # failed before that
    route = record.route if record.route is not None and record.router == decision.policy else None
    info_line(
        log,
        "request",
        {"request_id": record.request_id, "call": record, "decision": explain_log(decision, route)},
    )


async def _chat(
    request: web.Request, runtime: Runtime, record: CallRecord, t0: float, decided: list[Decision]
) -> web.StreamResponse:
    guard = request.app[GUARD]
    if runtime.config.tracing.enabled:  # the client's trace, for the request's span (built off the path)
        record.traceparent = request.headers.get("traceparent")
    key = await guard.authenticate(runtime, request.headers)  # 401 before anything is read
    max_bytes = runtime.config.server.max_body_bytes
    if request.content_length is not None and request.content_length > max_bytes:
        raise RequestTooLarge(
            f"request body is {request.content_length} bytes; the limit is {max_bytes} bytes"
        )
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise RequestTooLarge(f"request body is over the limit of {max_bytes} bytes") from None
    req = parse_chat_request(raw, max_bytes=max_bytes)
    record.requested_model, record.stream = req.model, req.stream
    info = guard.authorize(runtime, _request_info(runtime, req, request.headers), key)
    record.key_id = info.key_id
    decision = await guard.admit(runtime, info, key, runtime.decide(info), record.request_id)
    decided.append(decision)
    if _stores_bodies(runtime, decision.policy):
        record.prompt_body = raw.decode("utf-8", "replace")
    record.router = decision.policy
    record.route = short_route(decision)
    record.chain = [
        {"model": c.model, "q": c.predicted_quality, "cost": c.expected_cost_usd, "reason": c.reason}
        for c in decision.chain
    ]
    deadline = time.monotonic() + runtime.config.server.request_timeout_s
    trace = CallTrace(record.attempts)
    if req.stream:
        return await stream_answer(request, runtime, req, decision, trace, deadline, record, t0)
    model, resp = await runtime.dispatcher.complete(req, decision, trace, deadline)
    record.model = model
    record.ttft_ms = (time.perf_counter() - t0) * 1000
    resp.set_model(model)
    record.settle(runtime.catalog, resp.usage)
    if record.prompt_body is not None:
        record.response_body = orjson.dumps(resp.data).decode()
    headers = {H_MODEL: model, H_REQUEST_ID: record.request_id, H_ROUTE: record.route or ""}
    return json_response(resp.data, headers=headers)


def _stores_bodies(runtime: Runtime, router: str) -> bool:
    """Prompt/response bodies go to the ledger only when enabled (globally or for this router)."""
    ledger = runtime.config.ledger
    return ledger.enabled and (ledger.store_bodies or router in ledger.store_bodies_routers)


async def list_models(request: web.Request) -> web.Response:
    runtime = request.app[STATE].runtime
    return json_response(models_list_json(_model_ids(runtime.catalog, runtime)))


def _model_ids(catalog: Catalog, runtime: Runtime) -> list[tuple[str, str]]:
    models = [(name, f"switchman:{catalog[name].provider}") for name in catalog]
    routers = [(name, "switchman-router") for name in runtime.policies]
    return routers + models


async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    state = request.app[STATE]
    rt = state.runtime
    ready = state.ready and not state.draining
    body = {
        "status": "ready" if ready else ("draining" if state.draining else "not ready"),
        "models": len(rt.catalog),
        "routers": sorted(rt.policies),
        "providers": sorted(rt.providers),
        "simulated": rt.config.simulated,
        "reloads": state.reloads,
        "limits": request.app[GUARD].status(),
    }
    return json_response(body, 200 if ready else 503)
