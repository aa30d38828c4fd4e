"""The alert runner: evaluates the rules every ``interval_s``, de-duplicates, fires to log and webhook.

De-duplication uses the ledger's alert history, so several worker processes fire a rule once per
``dedup_s`` between them (not once each).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Set

from sqlalchemy import func, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from switchman.alerts.rules import Firing, evaluate
from switchman.config.observe import AlertsConfig, LedgerConfig
from switchman.ledger import db
from switchman.ledger.tables import alert_events
from switchman.records import CallRecord

log = logging.getLogger("switchman.alerts")


class AlertRunner:
    """A record sink in shape only (it reads the ledger, not the records): start/close run the loop."""

    def __init__(
        self,
        cfg: AlertsConfig,
        ledger: LedgerConfig,
        strong_models: Set[str],
        *,
        engine: Engine | None = None,
    ) -> None:
        self.cfg = cfg
        self.ledger = ledger
        self.strong = frozenset(strong_models)
        self._engine = engine
        self._task: asyncio.Task[None] | None = None
        self.fired: list[Firing] = []

    async def start(self) -> None:
        if self._engine is None:
            self._engine = db.make_engine(db.ledger_url(self.ledger), busy_timeout_s=self.ledger.timeout_s)
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="alerts")

    def submit(self, record: CallRecord) -> None:
        return None

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.cfg.interval_s)
            try:
                await self.check()
            except Exception:  # an alert bug must never stop the gateway
                log.exception("alert evaluation failed")

    async def check(self, now: float | None = None) -> list[Firing]:
        """Evaluate every rule once; returns (and sends) the firings not suppressed by de-duplication."""
        t = time.time() if now is None else now
        try:
            firings = await asyncio.to_thread(self._evaluate_and_record, t)
        except SQLAlchemyError as exc:
            log.warning("alerts: cannot read the ledger", extra={"error": type(exc).__name__})
            return []
        for f in firings:
            log.warning(
                "alert: " + f.message,
                extra={"alert": f.rule, "kind": f.kind, "value": f.value, "threshold": f.threshold},
            )
            await self._webhook(f, t)
        self.fired += firings
        return firings

    def _evaluate_and_record(self, now: float) -> list[Firing]:
        assert self._engine is not None
        out = []
        for rule in self.cfg.rules:
            firing = evaluate(self._engine, rule, now, self.strong)
            if firing is None:
                continue
            with self._engine.begin() as conn:
                last = conn.execute(
                    select(func.max(alert_events.c.ts)).where(alert_events.c.rule == rule.name)
                ).scalar_one()
                if last is not None and now - float(last) < self.cfg.dedup_s:
                    continue
                conn.execute(
                    insert(alert_events).values(
                        ts=now,
                        rule=firing.rule,
                        kind=firing.kind,
                        value=firing.value,
                        threshold=firing.threshold,
                        message=firing.message,
                    )
                )
            out.append(firing)
        return out

    async def _webhook(self, f: Firing, now: float) -> None:
        if self.cfg.webhook_url is None:
            return
        import aiohttp

        body = {
            "alert": f.rule,
            "kind": f.kind,
            "value": f.value,
            "threshold": f.threshold,
            "message": f.message,
            "ts": now,
            "source": "switchman",
        }
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session,
                session.post(self.cfg.webhook_url.get_secret_value(), json=body) as resp,
            ):
                if resp.status >= 400:
                    log.warning(
                        "alert webhook answered an error", extra={"alert": f.rule, "status": resp.status}
                    )
        except (aiohttp.ClientError, TimeoutError) as exc:
            # the URL may carry a token: never log it
            log.warning("alert webhook failed", extra={"alert": f.rule, "error": type(exc).__name__})
