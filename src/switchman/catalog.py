"""The model catalog: what each configured model can do and what it costs.

Built from the config; a plain value (no I/O). Live latency/error stats come from dispatch through the
:class:`Stats` protocol so routing can read them without importing dispatch.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol

from switchman.config.model import Config, ModelConfig


@dataclass(frozen=True, slots=True)
class Deployment:
    """One place a model is served; ``id`` keys its breaker and health."""

    id: str
    provider: str
    upstream: str
    weight: float = 1.0


@dataclass(frozen=True, slots=True)
class ModelEntry:
    name: str
    provider: str
    upstream: str
    input_price: float  # USD per 1M tokens
    output_price: float
    cached_input_price: float
    context_window: int
    max_output_tokens: int | None
    vision: bool
    tools: bool
    json_mode: bool
    tier: str
    tier_rank: int  # 0 = weakest
    latency: str
    deployments: tuple[Deployment, ...] = ()

    def cost_usd(self, input_tokens: int, output_tokens: int, cached_tokens: int = 0) -> float:
        """Cost of a call with these token counts (cached tokens are part of input_tokens)."""
        fresh = max(input_tokens - cached_tokens, 0)
        return (
            fresh * self.input_price
            + cached_tokens * self.cached_input_price
            + output_tokens * self.output_price
        ) / 1_000_000


def _deployments(name: str, m: ModelConfig) -> tuple[Deployment, ...]:
    if not m.deployments:
        upstream = m.upstream or name
        return (Deployment(f"{name}/{m.provider}", m.provider, upstream),)
    return tuple(
        Deployment(f"{name}/{d.provider}/{i}", d.provider, d.upstream or m.upstream or name, d.weight)
        for i, d in enumerate(m.deployments)
    )


class Stats(Protocol):
    """Live view of dispatch outcomes per model (latency EWMA, error rate, availability)."""

    def available(self, model: str) -> bool: ...

    def latency_ms(self, model: str) -> float | None: ...

    def error_rate(self, model: str) -> float: ...


class NoStats:
    """Stats for when nothing has been observed yet: every model available."""

    def available(self, model: str) -> bool:
        return True

    def latency_ms(self, model: str) -> float | None:
        return None

    def error_rate(self, model: str) -> float:
        return 0.0


class Catalog(Mapping[str, ModelEntry]):
    """The configured models by name."""

    def __init__(self, entries: Mapping[str, ModelEntry], tiers: list[str], baseline: str) -> None:
        self._entries = dict(entries)
        self.tiers = list(tiers)
        self.baseline = baseline
        #: The smallest context window of any model (routing counts tokens exactly only near it).
        self.smallest_context = min((e.context_window for e in self._entries.values()), default=0)

    @classmethod
    def from_config(cls, config: Config) -> Catalog:
        tiers = list(config.tiers)
        entries = {}
        for name, m in config.models.items():
            entries[name] = ModelEntry(
                name=name,
                provider=m.provider,
                upstream=m.upstream or name,
                input_price=m.input_price,
                output_price=m.output_price,
                cached_input_price=m.cached_input_price
                if m.cached_input_price is not None
                else m.input_price,
                context_window=m.context_window,
                max_output_tokens=m.max_output_tokens,
                vision=m.capabilities.vision,
                tools=m.capabilities.tools,
                json_mode=m.capabilities.json_mode,
                tier=m.tier,
                tier_rank=tiers.index(m.tier),
                latency=m.latency,
                deployments=_deployments(name, m),
            )
        baseline = (
            config.baseline_model
            or max(entries.values(), key=lambda e: (e.input_price + e.output_price, e.tier_rank)).name
        )
        return cls(entries, tiers, baseline)

    def __getitem__(self, name: str) -> ModelEntry:
        return self._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def baseline_cost_usd(self, input_tokens: int, output_tokens: int, cached_tokens: int = 0) -> float:
        """What the baseline (reference) model would have charged for the same tokens."""
        return self._entries[self.baseline].cost_usd(input_tokens, output_tokens, cached_tokens)
