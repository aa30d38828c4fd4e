"""Wire the observability sinks and pages into the gateway app: ledger writer, metrics, alerts, dashboard,
traces.

Built once per process from the startup config (a config reload does not rebuild them; restart to
change the ledger URL or the tracing settings).
"""

from __future__ import annotations

from aiohttp import web

from switchman.config.model import Config
from switchman.serving.metrics import METRICS, Metrics, metrics_handler
from switchman.serving.state import GatewayState


def attach_observability(app: web.Application, state: GatewayState, config: Config) -> None:
    metrics = Metrics()
    # read at scrape time: the runtime (and its dispatcher) is swapped on reload
    metrics.breaker_source = lambda: state.runtime.dispatcher.health.breaker_states()
    app[METRICS] = metrics
    if config.metrics.enabled:
        app.router.add_get("/metrics", metrics_handler)
        state.sinks.append(metrics)
    if config.tracing.enabled:
        # imported only when enabled: with tracing off no OpenTelemetry module is loaded
        from switchman.serving.tracing import TRACING, TracingSink

        tracing = TracingSink(config.tracing)
        app[TRACING] = tracing
        state.sinks.append(tracing)
    if config.ledger.enabled:
        from switchman.ledger.writer import LedgerWriter

        writer = LedgerWriter(config.ledger)
        metrics.watch_ledger(writer)
        state.sinks.append(writer)
        if config.alerts.enabled and config.alerts.rules:
            from switchman.alerts.runner import AlertRunner

            top = config.tiers[-1]
            strong = {name for name, m in config.models.items() if m.tier == top}
            state.sinks.append(AlertRunner(config.alerts, config.ledger, strong))
        if config.dashboard.enabled:
            from switchman.dashboard.views import add_dashboard

            add_dashboard(app, config)
