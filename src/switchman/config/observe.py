"""Observability settings: the ledger, alerts, the dashboard and traces (see docs/observability.md)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator

from switchman.config.base import Strict as _Strict


class LedgerConfig(_Strict):
    """Where every call is recorded (``switchman report``, ``/dashboard``, alerts)."""

    enabled: bool = True
    #: SQLAlchemy URL; default ``sqlite:///{data_dir}/ledger.db`` (WAL). PostgreSQL:
    #: ``postgresql+psycopg://user:${PGPASSWORD}@host:5432/db``.
    url: SecretStr | None = None
    #: Directory for the default SQLite file and the spool (relative to the working directory).
    data_dir: str = ".switchman"
    #: Rows written per database round trip, and the longest a record waits in memory, seconds.
    batch_size: int = Field(500, gt=0)
    flush_interval_s: float = Field(1.0, gt=0)
    #: Records kept in memory while the database is slow before they go to the spool.
    queue_max: int = Field(50_000, gt=0)
    #: Where records wait (JSONL) while the database is unreachable; default ``{data_dir}/spool``.
    spool_dir: str | None = None
    spool_max_bytes: int = Field(512 * 1024 * 1024, gt=0)
    #: Store prompt and response bodies (off by default; also per router with ``store_bodies_routers``).
    store_bodies: bool = False
    store_bodies_routers: list[str] = Field(default_factory=list)
    #: Delete records older than this many days (0 = keep forever), in batches of ``retention_batch``.
    retention_days: float = Field(0, ge=0)
    retention_batch: int = Field(5000, gt=0)
    #: Apply pending migrations at startup (``switchman db upgrade`` does it by hand).
    migrate: bool = True
    #: How long one write waits for a locked (SQLite) or unreachable (PostgreSQL) database, seconds.
    timeout_s: float = Field(5.0, gt=0)


AlertKind = Literal["cost_per_request", "strong_share", "error_rate", "p99_latency", "quality"]


class AlertRuleConfig(_Strict):
    """One alert rule, evaluated over the last ``window_s`` seconds of the ledger.

    ``cost_per_request`` and ``quality`` compare the window with the trailing ``baseline_window_s``
    before it and fire when the change passes ``threshold`` percent (cost up, quality down);
    ``strong_share`` fires when the share of requests served by the strongest tier rises by more than
    ``threshold`` percentage points; ``error_rate`` fires above ``threshold`` (a share, 0..1);
    ``p99_latency`` fires above ``threshold`` milliseconds.
    """

    name: str
    kind: AlertKind
    threshold: float = Field(ge=0)
    window_s: float = Field(3600, gt=0)
    baseline_window_s: float = Field(86400, gt=0)
    #: Only requests served by this model (``quality``, ``p99_latency``, ``error_rate``), or routed by
    #: this router.
    model: str | None = None
    router: str | None = None
    #: Fewer requests than this in the window (or baseline) never fire.
    min_requests: int = Field(20, ge=1)


class AlertsConfig(_Strict):
    enabled: bool = True
    interval_s: float = Field(60, gt=0)
    #: A firing rule is not repeated within this many seconds.
    dedup_s: float = Field(3600, ge=0)
    #: POSTed a JSON body per firing alert (may be an env reference).
    webhook_url: SecretStr | None = None
    rules: list[AlertRuleConfig] = Field(default_factory=list)


class DashboardConfig(_Strict):
    enabled: bool = True
    #: Bearer key required by ``/dashboard`` (an env reference, e.g. ``${SWITCHMAN_ADMIN_KEY}``);
    #: unset = open to anyone who can reach the port.
    admin_key: SecretStr | None = None


class MetricsConfig(_Strict):
    """Prometheus ``GET /metrics``."""

    enabled: bool = True
    #: Bearer token a scrape must send (``Authorization: Bearer <token>``; in Prometheus,
    #: ``authorization: {credentials: ...}``); an env reference such as ``${SWITCHMAN_METRICS_TOKEN}``.
    #: Unset = open to anyone who can reach the port (the series hold model names, counts and spend,
    #: never keys or bodies). Read on every scrape, so a config reload changes it.
    bearer_token: SecretStr | None = None


class TracingConfig(_Strict):
    """OpenTelemetry traces: one span per request and one per upstream attempt (off by default).

    Needs the ``otel`` extra (``pip install 'switchman[otel]'``). Built once at startup: a config reload
    does not turn tracing on or off.
    """

    enabled: bool = False
    #: ``otlp``: OTLP/HTTP (protobuf) to ``endpoint``; ``console``: spans printed to stdout;
    #: ``none``: spans are made but not exported (for tests that add their own span processor).
    exporter: Literal["otlp", "console", "none"] = "otlp"
    endpoint: str = "http://127.0.0.1:4318/v1/traces"
    #: Extra headers on every export (values may be env references, e.g. an auth token).
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    #: Seconds one OTLP export may take.
    timeout_s: float = Field(10.0, gt=0)
    #: ``service.name`` of the resource.
    service_name: str = Field("switchman", min_length=1)
    #: Share of traces kept (by trace id); a request whose ``traceparent`` carries a sampling decision
    #: follows it.
    sample_ratio: float = Field(1.0, ge=0, le=1)
    #: Records waiting for span conversion; past it the oldest are dropped (and counted).
    queue_max: int = Field(10_000, gt=0)

    @field_validator("endpoint")
    @classmethod
    def _http_url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError(f"must be an http:// or https:// URL, got {v!r}")
        return v
