"""The gate in front of dispatch: who is calling (keys), what they may use, and whether limits and
budgets let the request through; after the call, the real cost corrects the pre-charge.

:func:`attach_limits` wires it into the app: the limit backend and key cache start and stop with the app,
reconciliation runs as a :class:`~switchman.serving.state.RecordSink` (every finished call, streams
included), and ``/admin/keys`` is served when an admin key is configured.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from aiohttp import web

from switchman.config.model import Config
from switchman.errors import PermissionDenied
from switchman.keys import ApiKey, KeyStore, open_store
from switchman.limits import Ask, Limiter, Reservation, build_backend
from switchman.limits.breakers import BreakerSync
from switchman.limits.plan import merge_key_limits
from switchman.limits.stats import HeadroomStats
from switchman.records import CallRecord
from switchman.routing.decision import Decision
from switchman.routing.request import RequestInfo
from switchman.serving.auth import KeyCache, authenticate
from switchman.serving.runtime import Runtime
from switchman.serving.state import GatewayState

log = logging.getLogger("switchman.serving")

#: Output tokens assumed for the pre-charge when the request does not bound them lower.
EXPECTED_OUTPUT_TOKENS = 256


def expected_tokens(info: RequestInfo, decision: Decision) -> int:
    """Tokens to pre-charge: the conversation as routing counted it plus the expected output."""
    prompt = decision.features.get("conversation_tokens", decision.features.get("prompt_tokens", 0.0))
    out = min(info.request.max_output_tokens or EXPECTED_OUTPUT_TOKENS, EXPECTED_OUTPUT_TOKENS)
    return int(prompt) + out


class Guard:
    def __init__(self, config: Config) -> None:
        self.limiter = Limiter(build_backend(config.state))
        self._config = config
        self._keys: KeyCache | None = None
        #: Reservations of requests in flight, by request id (reconciled by ``submit``).
        self._reserved: dict[str, tuple[Reservation, Runtime]] = {}
        self.current: Runtime | None = None
        self._breakers: BreakerSync | None = None

    # --- lifecycle --------------------------------------------------------------------------------

    async def start(self, runtime: Runtime) -> None:
        self.current = runtime
        await self.limiter.backend.start()
        state = self._config.state
        if state.backend == "redis":  # breakers shared by replicas, like the counters
            self._breakers = BreakerSync(
                state.url.get_secret_value(),
                runtime.dispatcher.health,
                prefix=state.prefix,
                timeout_s=state.timeout_s,
            )
            await self._breakers.start()
        self.limiter.start_refresh(lambda: (self.current or runtime).config.limits)
        auth = runtime.config.auth
        if auth.enabled or auth.admin_key is not None:
            await self.keys().start()
        if not auth.enabled:
            log.warning(
                "AUTHENTICATION IS DISABLED: anyone who can reach this port can use it and spend on your "
                "provider accounts; set `auth: {enabled: true}` and create keys with `switchman keys create`"
            )

    def keys(self) -> KeyCache:
        """The key cache (the store is opened on first need, so a keyless setup writes no file)."""
        if self._keys is None:
            store: KeyStore = open_store(self._config.auth, self._config.state)
            self._keys = KeyCache(store, self._config.auth.cache_ttl_s)
        return self._keys

    async def close(self) -> None:
        if self._breakers is not None:
            await self._breakers.close()
        await self.limiter.aclose()
        await self.limiter.backend.aclose()
        if self._keys is not None:
            await self._keys.aclose()

    # --- the request path -------------------------------------------------------------------------

    async def authenticate(self, runtime: Runtime, headers: Any) -> ApiKey | None:
        """The caller's key (401 when missing or invalid); None when auth is off."""
        self.current = runtime
        if not runtime.config.auth.enabled:
            return None
        return await authenticate(self.keys(), headers)

    def authorize(self, runtime: Runtime, info: RequestInfo, key: ApiKey | None) -> RequestInfo:
        """403 for a model or router the key may not use; the key's id, tier and models in the info."""
        if key is None:
            return info
        name = info.requested_model
        is_router = name in runtime.policies
        allowed = key.routers if is_router else key.models
        if allowed is not None and name not in allowed:
            what = "router" if is_router else "model"
            raise PermissionDenied(
                f"this API key may not use the {what} '{name}'", param="model", code="model_not_allowed"
            )
        models = frozenset(key.models) if key.models is not None else None
        return dataclasses.replace(info, key_id=key.id, tier=key.tier, allowed_models=models)

    async def admit(
        self, runtime: Runtime, info: RequestInfo, key: ApiKey | None, decision: Decision, request_id: str
    ) -> Decision:
        """Check limits and budgets (429 with Retry-After when refused) and pre-charge the expected cost;
        returns the decision with its chain reordered/shortened by what the limits allowed."""
        if not isinstance(runtime.stats, HeadroomStats):
            # routing reads the limits' headroom through its Stats (kept across reloads: new runtimes get it)
            runtime.stats = HeadroomStats(runtime.stats, self.limiter)
        chain = decision.chain
        dropped = list(decision.dropped)
        if info.allowed_models is not None:
            dropped += [(c.model, "key:not-allowed") for c in chain if c.model not in info.allowed_models]
            chain = tuple(c for c in chain if c.model in info.allowed_models)
            if not chain:
                raise PermissionDenied(
                    "no model this API key may use can serve this request",
                    param="model",
                    code="model_not_allowed",
                )
        cfg = runtime.config.limits
        key_limits = merge_key_limits(cfg.keys, key.limits() if key is not None else None)
        if not cfg.models and key_limits.empty:
            return decision if chain is decision.chain else dataclasses.replace(decision, chain=chain)
        ask = Ask(key.id if key else None, key_limits, info.requested_model, expected_tokens(info, decision))
        adm = await self.limiter.admit(cfg, ask, [(c.model, c.expected_cost_usd) for c in chain])
        if adm.reservation is not None:
            self._reserved[request_id] = (adm.reservation, runtime)
        skipped = {m for m, _ in adm.skipped}
        new_chain = tuple(chain[i] for i in adm.order if chain[i].model not in skipped)
        if new_chain == decision.chain:
            return decision
        return dataclasses.replace(decision, chain=new_chain, dropped=(*dropped, *adm.skipped))

    # --- reconciliation (a RecordSink) ------------------------------------------------------------

    def submit(self, record: CallRecord) -> None:
        """Correct the pre-charge of a finished call with its real tokens and cost."""
        held = self._reserved.pop(record.request_id, None)
        if held is None:
            return
        res, runtime = held
        tokens = record.input_tokens + record.output_tokens
        self.limiter.reconcile(runtime.config.limits, res, record.model, tokens, record.cost_usd)

    def status(self) -> dict[str, Any]:
        rt = self.current
        out: dict[str, Any] = {"auth": bool(rt and rt.config.auth.enabled)}
        if self._keys is not None:
            out.update(self._keys.status())
        out["limits"] = self.limiter.status()
        return out


class _ReconcileSink:
    """The guard seen as a record sink (``start``/``submit``/``close``)."""

    def __init__(self, guard: Guard) -> None:
        self.guard = guard

    async def start(self) -> None:
        return None

    def submit(self, record: CallRecord) -> None:
        self.guard.submit(record)

    async def close(self) -> None:
        return None


GUARD = web.AppKey("switchman_guard", Guard)


def attach_limits(app: web.Application, state: GatewayState, config: Config) -> None:
    """Install the guard: app key, reconciliation sink, start/stop hooks and the admin routes."""
    from switchman.serving.admin import add_admin_routes

    guard = Guard(config)
    app[GUARD] = guard
    state.sinks.append(_ReconcileSink(guard))

    async def _start(app: web.Application) -> None:
        await guard.start(state.runtime)

    async def _close(app: web.Application) -> None:
        await guard.close()

    app.on_startup.append(_start)
    app.on_cleanup.append(_close)
    add_admin_routes(app)
