"""Everything built from one config: catalog, providers, policies, dispatcher.

A reload builds a new :class:`Runtime` and swaps it in; requests in flight keep the one they started
with, and the old runtime's providers are closed once its last request has finished.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from switchman.catalog import Catalog, NoStats, Stats
from switchman.config.model import Config
from switchman.dispatch import Dispatcher
from switchman.errors import ModelNotFound
from switchman.health import HealthBoard
from switchman.providers import Provider, build_providers
from switchman.routing.decision import Decision
from switchman.routing.policy import Policy, build_policies, explicit_decision
from switchman.routing.request import RequestInfo


@dataclass
class Runtime:
    config: Config
    catalog: Catalog
    providers: dict[str, Provider]
    policies: dict[str, Policy]
    dispatcher: Dispatcher
    stats: Stats = field(default_factory=NoStats)
    in_flight: int = 0
    retired: bool = False
    _idle: asyncio.Event | None = None

    @classmethod
    def build(cls, config: Config, health: HealthBoard | None = None) -> Runtime:
        """Build everything a config describes; ``health`` (breakers, latency) carries over reloads."""
        catalog = Catalog.from_config(config)
        providers = build_providers(config)
        health = health or HealthBoard(config.dispatch.breaker)
        health.configure(
            config.dispatch.breaker, {n: [d.id for d in e.deployments] for n, e in catalog.items()}
        )
        return cls(
            config=config,
            catalog=catalog,
            providers=providers,
            policies=build_policies(config),
            dispatcher=Dispatcher(catalog, providers, config.dispatch, health),
            stats=health,
        )

    def split_router(self, requested: str) -> tuple[str, float | None]:
        """``switchman/auto@0.7`` → (``switchman/auto``, 0.7); other names unchanged."""
        if "@" in requested:
            name, _, raw = requested.rpartition("@")
            if name in self.policies:
                try:
                    return name, float(raw)
                except ValueError:
                    pass
        return requested, None

    def decide(self, info: RequestInfo) -> Decision:
        name = info.requested_model
        policy = self.policies.get(name)
        if policy is not None:
            return policy.decide(info, self.catalog, self.stats)
        if name in self.catalog:
            return explicit_decision(info, self.catalog)
        raise ModelNotFound(name)

    def enter(self) -> None:
        self.in_flight += 1

    def leave(self) -> None:
        self.in_flight -= 1
        if self.in_flight == 0 and self._idle is not None:
            self._idle.set()

    async def retire(self) -> None:
        """Close providers once every request that started on this runtime has finished."""
        self.retired = True
        if self.in_flight:
            self._idle = asyncio.Event()
            await self._idle.wait()
        await self.aclose()

    async def aclose(self) -> None:
        for p in self.providers.values():
            await p.aclose()
