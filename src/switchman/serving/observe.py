"""Wire the observability sinks and pages into the gateway app: ledger writer, metrics, alerts, dashboard.

Built once per process from the startup config (a config reload does not rebuild them; restart to
change the ledger URL).
"""

from __future__ import annotations

from aiohttp import web

from switchman.config.model import Config
from switchman.serving.state import GatewayState


def attach_observability(app: web.Application, state: GatewayState, config: Config) -> None:
    from switchman.ledger.writer import LedgerWriter

    if config.ledger.enabled:
        state.sinks.append(LedgerWriter(config.ledger))
