"""Settings of authentication, limits/quotas/budgets and the shared state backend.

The ``auth:``, ``limits:`` and ``state:`` sections of the config file. Plain pydantic data, importable by
every layer (like ``config.model``, which includes them in :class:`~switchman.config.model.Config`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr

from switchman.config.base import Strict as _Strict

#: What a request that hits a model's limit does: wait in a bounded queue, go to the next candidate of
#: its routing chain, or get 429 with ``Retry-After`` at once.
OnLimit = Literal["queue", "reroute", "reject"]


class AuthConfig(_Strict):
    #: Require a virtual API key (``Authorization: Bearer sm-...``) on every API request. Off by
    #: default so that a local ``make serve`` works without a key (the log says so, loudly).
    enabled: bool = False
    #: Key of the management endpoints (``/admin/keys``); none = the endpoints are disabled.
    admin_key: SecretStr | None = None
    #: Where virtual keys live: ``sqlite`` (a file, one host), ``redis`` (shared by replicas), or
    #: ``auto`` (``redis`` when ``state.backend`` is ``redis``, else ``sqlite``).
    store: Literal["auto", "sqlite", "redis"] = "auto"
    #: SQLite file of the keys (default: ``$SWITCHMAN_DATA_DIR/keys.db``, else ``~/.local/share/switchman``).
    keys_path: str | None = None
    #: Seconds a looked-up key is cached in the process; a revocation reaches other replicas within it.
    cache_ttl_s: float = Field(5.0, ge=0)


class ModelLimits(_Strict):
    """Limits of one model (all replicas together when ``state.backend`` is ``redis``)."""

    rpm: int | None = Field(None, gt=0)
    tpm: int | None = Field(None, gt=0)
    #: Tokens (input + output) per UTC day.
    daily_tokens: int | None = Field(None, gt=0)


class KeyLimits(_Strict):
    """Limits of one API key; a key's own settings override these defaults."""

    rpm: int | None = Field(None, gt=0)
    tpm: int | None = Field(None, gt=0)
    #: USD per UTC day / calendar month (UTC).
    daily_usd: float | None = Field(None, gt=0)
    monthly_usd: float | None = Field(None, gt=0)

    @property
    def empty(self) -> bool:
        """No limit set (``== KeyLimits()``, without pydantic's ``__eq__``: checked for every request)."""
        return self.rpm is None and self.tpm is None and self.daily_usd is None and self.monthly_usd is None


class RouteLimits(_Strict):
    """What a request for one router or model does when a model limit is reached."""

    on_limit: OnLimit | None = None
    max_wait_s: float | None = Field(None, ge=0)


class LimitsConfig(_Strict):
    #: ``sliding``: a sliding window (weighted previous + current minute); ``fixed``: calendar minutes.
    window: Literal["sliding", "fixed"] = "sliding"
    #: Share of a model's limit from which requests prefer the other candidates of their chain.
    near_quota: float = Field(0.9, gt=0, le=1)
    #: Default behaviour at a model's limit (override per router/model under ``routes``).
    on_limit: OnLimit = "reroute"
    #: Longest wait of a queued request before it gets 429.
    max_wait_s: float = Field(5.0, ge=0)
    #: Most requests waiting at once in one process; more get 429 at once.
    queue_size: int = Field(256, ge=0)
    #: Limits per model name.
    models: dict[str, ModelLimits] = Field(default_factory=dict)
    #: Defaults of every key (used too, as one shared bucket, for requests without a key).
    keys: KeyLimits = Field(default_factory=KeyLimits)
    #: ``on_limit`` / ``max_wait_s`` per requested router or model name.
    routes: dict[str, RouteLimits] = Field(default_factory=dict)


class StateConfig(_Strict):
    """Where counters live: in this process (one worker) or in Redis (several workers or hosts)."""

    backend: Literal["memory", "redis"] = "memory"
    url: SecretStr = SecretStr("redis://127.0.0.1:6379/0")
    #: Prefix of every Redis key switchman writes.
    prefix: str = "switchman:"
    #: Timeout of one Redis call; past it the call counts as an outage and local limits apply.
    timeout_s: float = Field(0.25, gt=0)
    #: Seconds between reconnection attempts while Redis is unreachable.
    reconnect_s: float = Field(1.0, gt=0)


def check_limit_references(models: set[str], routers: set[str], limits: LimitsConfig) -> None:
    """Raise ``ValueError`` when a limit names an unknown model or router."""
    for name in limits.models:
        if name not in models:
            raise ValueError(f"limits.models: unknown model '{name}'")
    for name in limits.routes:
        if name not in models and name not in routers:
            raise ValueError(f"limits.routes: unknown router or model '{name}'")
