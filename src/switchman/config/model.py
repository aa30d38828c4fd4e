"""Typed settings of switchman: the schema of the YAML config file.

Everything here is plain data validated by pydantic; loading (YAML, env references) lives in
``config/load.py``. Importable from every layer.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field, SecretStr, field_validator, model_validator

from switchman.config.base import Strict as _Strict
from switchman.config.limits import AuthConfig, LimitsConfig, StateConfig, check_limit_references
from switchman.config.observe import (
    AlertsConfig,
    DashboardConfig,
    LedgerConfig,
    MetricsConfig,
    TracingConfig,
)
from switchman.config.routing import (
    RouterConfig,
)

Tier = str
ProviderType = Literal["openai", "anthropic", "sim"]


class ServerConfig(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    max_body_bytes: int = Field(4 * 1024 * 1024, gt=0)
    #: Upper bound on one whole request (all attempts, fallbacks included), seconds.
    request_timeout_s: float = Field(600.0, gt=0)
    #: Seconds SIGTERM waits for in-flight requests before exiting.
    shutdown_grace_s: float = Field(30.0, ge=0)
    #: Log every request's routing explanation (JSON lines).
    log_requests: bool = True


class ProviderConfig(_Strict):
    type: ProviderType
    #: Base URL of the API, e.g. https://api.openai.com/v1 or http://127.0.0.1:8001/v1
    base_url: str | None = None
    #: The API key, resolved from an env reference (``${OPENAI_API_KEY}``); never written in the file.
    api_key: SecretStr | None = None
    #: Extra headers sent on every call (values may be env references too).
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    #: Query parameters added to every call (Azure-style ``api-version``).
    query: dict[str, str] = Field(default_factory=dict)
    connect_timeout_s: float = Field(10.0, gt=0)
    #: Maximum time to the response headers / first stream byte.
    first_byte_timeout_s: float = Field(120.0, gt=0)
    #: Maximum pooled connections to this provider.
    max_connections: int = Field(256, gt=0)
    #: ``anthropic`` only: ``max_tokens`` sent when the client sets none and the model has no
    #: ``max_output_tokens`` (the Messages API requires it).
    default_max_tokens: int = Field(4096, gt=0)

    @model_validator(mode="after")
    def _needs_base_url(self) -> ProviderConfig:
        if self.type != "sim" and not self.base_url:
            raise ValueError(f"a provider of type '{self.type}' needs base_url")
        if self.base_url and (
            not self.base_url.startswith(("http://", "https://")) or not _is_header_text(self.base_url)
        ):
            raise ValueError("base_url must be an ASCII http:// or https:// URL (percent-encode the rest)")
        # what goes into the request head verbatim (values are secrets: never echoed)
        for name, value in self.headers.items():
            if not name or ":" in name or not _is_header_text(name):
                raise ValueError(f"headers: {name!r} is not a valid header name")
            if not _is_header_text(value.get_secret_value()):
                raise ValueError(f"headers.{name}: the value must be ASCII without line breaks")
        if self.api_key is not None and not _is_header_text(self.api_key.get_secret_value()):
            raise ValueError("api_key must be ASCII without line breaks")
        return self


def _is_header_text(text: str) -> bool:
    return text.isascii() and not any(c in text for c in "\r\n\0")


class SimBehaviour(_Strict):
    """How a simulated model behaves (for the in-process `sim` provider and `switchman sim`)."""

    ttft_ms: float = Field(0.0, ge=0)
    tokens_per_s: float = Field(0.0, ge=0, description="0 = instant")
    #: Answer text; ``None`` = a deterministic answer derived from the prompt.
    answer: str | None = None
    #: Number of words in the generated answer when ``answer`` is not set.
    answer_words: int = Field(24, ge=1)
    #: Share of requests that fail with ``error_status``.
    error_rate: float = Field(0.0, ge=0, le=1)
    error_status: int = Field(500, ge=400, le=599)
    #: Share of requests answered 429 with ``Retry-After: retry_after_s``.
    rate_limit_rate: float = Field(0.0, ge=0, le=1)
    retry_after_s: float = Field(1.0, ge=0)
    #: Share of requests that hang (never answer until the client gives up).
    hang_rate: float = Field(0.0, ge=0, le=1)
    #: Share of requests whose connection is reset before any answer.
    reset_rate: float = Field(0.0, ge=0, le=1)
    #: Share of requests answered with malformed JSON (or a malformed SSE line when streaming).
    malformed_rate: float = Field(0.0, ge=0, le=1)
    #: Streams are cut (connection closed, no [DONE]) after this many content chunks.
    stream_cut_after: int | None = Field(None, ge=0)
    #: The first N requests fail with ``fail_mode`` (deterministic faults for tests).
    fail_first: int = Field(0, ge=0)
    fail_mode: Literal["error", "rate_limit", "hang", "reset", "malformed", "context_length"] = "error"
    #: Context window the simulated upstream enforces (prompt tokens), 0 = unlimited.
    context_window: int = Field(0, ge=0)
    seed: int = 0


class Capabilities(_Strict):
    vision: bool = False
    tools: bool = True
    json_mode: bool = Field(True, alias="json")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class DeploymentConfig(_Strict):
    """One place a model is served: a provider, the upstream's name for the model, a weight."""

    provider: str
    upstream: str | None = None
    weight: float = Field(1.0, gt=0)


class ModelConfig(_Strict):
    provider: str
    #: The model name the upstream knows (defaults to the configured name).
    upstream: str | None = None
    #: USD per 1M input tokens / output tokens.
    input_price: float = Field(0.0, ge=0)
    output_price: float = Field(0.0, ge=0)
    #: USD per 1M cached input tokens (defaults to the input price).
    cached_input_price: float | None = Field(None, ge=0)
    context_window: int = Field(8192, gt=0)
    max_output_tokens: int | None = Field(None, gt=0)
    capabilities: Capabilities = Field(default_factory=Capabilities)
    tier: Tier = "medium"
    #: Typical latency class of this model (used by latency-class overrides).
    latency: Literal["low", "medium", "high"] = "medium"
    #: Behaviour when the provider is of type `sim`.
    sim: SimBehaviour = Field(default_factory=SimBehaviour)
    #: Several deployments of this model (load-balanced, each with its own breaker). When empty, the
    #: model has one deployment: ``provider`` + ``upstream``.
    deployments: list[DeploymentConfig] = Field(default_factory=list)


class BreakerConfig(_Strict):
    """Circuit breaker per deployment: opens after ``failures`` failures within ``window_s``."""

    failures: int = Field(5, ge=1)
    window_s: float = Field(30.0, gt=0)
    #: How long an open breaker keeps the deployment out before one probe is let through.
    cooldown_s: float = Field(15.0, gt=0)


class DispatchConfig(_Strict):
    #: Extra attempts at the same model for retryable failures (connect errors, 5xx, 429, timeouts).
    max_retries: int = Field(2, ge=0)
    backoff_base_s: float = Field(0.1, ge=0)
    backoff_max_s: float = Field(4.0, ge=0)
    #: A Retry-After longer than this moves on to the next candidate instead of waiting.
    max_retry_after_s: float = Field(10.0, ge=0)
    #: Total time of one attempt (connect and first-byte limits are per provider).
    attempt_timeout_s: float = Field(120.0, gt=0)
    breaker: BreakerConfig = Field(default_factory=BreakerConfig)
    #: How a model's deployments share load: ``weighted`` (random by weight), ``least_busy`` (fewest
    #: requests in flight) or ``latency`` (lowest latency EWMA, ties by weight).
    load_balancing: Literal["weighted", "least_busy", "latency"] = "weighted"


class Config(_Strict):
    server: ServerConfig = Field(default_factory=ServerConfig)
    dispatch: DispatchConfig = Field(default_factory=DispatchConfig)
    providers: dict[str, ProviderConfig] = Field(default_factory=dict)
    models: dict[str, ModelConfig] = Field(default_factory=dict)
    routers: dict[str, RouterConfig] = Field(default_factory=dict)
    #: Tier names from weakest to strongest.
    tiers: list[Tier] = Field(default_factory=lambda: ["small", "medium", "large"])
    #: Model whose price is the baseline for savings (defaults to the most expensive model).
    baseline_model: str | None = None
    ledger: LedgerConfig = Field(default_factory=LedgerConfig)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    dashboard: DashboardConfig = Field(default_factory=DashboardConfig)
    #: Prometheus ``/metrics`` (on by default; optionally behind a bearer token).
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    #: OpenTelemetry traces (off by default; the ``otel`` extra).
    tracing: TracingConfig = Field(default_factory=TracingConfig)
    #: Virtual API keys (``switchman keys``), limits/quotas/budgets, and where their counters live.
    auth: AuthConfig = Field(default_factory=AuthConfig)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    state: StateConfig = Field(default_factory=StateConfig)
    #: True when the config was generated from the built-in simulated models.
    simulated: Annotated[bool, Field(exclude=True)] = False

    @field_validator("routers")
    @classmethod
    def _router_names(cls, routers: dict[str, RouterConfig]) -> dict[str, RouterConfig]:
        for name in routers:
            if "@" in name:
                raise ValueError(f"router name '{name}' must not contain '@' (reserved for thresholds)")
        return routers

    @model_validator(mode="after")
    def _limit_references(self) -> Config:
        check_limit_references(set(self.models), set(self.routers), self.limits)
        return self

    @model_validator(mode="after")
    def _references(self) -> Config:
        if not self.models:
            raise ValueError("at least one model must be configured under 'models'")
        for name, m in self.models.items():
            for i, d in enumerate(m.deployments):
                if d.provider not in self.providers:
                    raise ValueError(
                        f"models.{name}.deployments[{i}].provider: unknown provider '{d.provider}'"
                    )
            if m.provider not in self.providers:
                raise ValueError(
                    f"models.{name}.provider: unknown provider '{m.provider}' "
                    f"(configured: {', '.join(sorted(self.providers)) or 'none'})"
                )
            if m.tier not in self.tiers:
                raise ValueError(f"models.{name}.tier: '{m.tier}' is not one of tiers {self.tiers}")
        for rname, r in self.routers.items():
            if rname in self.models:
                raise ValueError(f"routers.{rname}: a router cannot have the name of a model")
            for mname in r.models:
                if mname not in self.models:
                    raise ValueError(f"routers.{rname}.models: unknown model '{mname}'")
        if self.baseline_model is not None and self.baseline_model not in self.models:
            raise ValueError(f"baseline_model: unknown model '{self.baseline_model}'")
        return self

    @model_validator(mode="after")
    def _routing_references(self) -> Config:
        tiers = {*self.tiers, "top", "bottom"}
        for rname, r in self.routers.items():
            targets = [(f"rules[{i}] {x.name}", x.then) for i, x in enumerate(r.rules)]
            targets += [(f"routes[{i}] {x.name}", x.then) for i, x in enumerate(r.routes)]
            for where, t in targets:
                if t.model is not None and t.model not in self.models:
                    raise ValueError(f"routers.{rname}.{where}: unknown model '{t.model}'")
                for tier in (t.tier, t.min_tier, t.max_tier):
                    if tier is not None and tier not in tiers:
                        raise ValueError(
                            f"routers.{rname}.{where}: '{tier}' is not one of tiers {self.tiers}"
                        )
                if t.router is not None and (t.router not in self.routers or t.router == rname):
                    raise ValueError(f"routers.{rname}.{where}: unknown or self router '{t.router}'")
        return self


class SimServerConfig(_Strict):
    """The `switchman sim` server: behaviour per simulated model name, and for any other name."""

    models: dict[str, SimBehaviour] = Field(default_factory=dict)
    default: SimBehaviour = Field(default_factory=SimBehaviour)
