"""Policies turn a request into a :class:`Decision`. Pure and synchronous.

:func:`build_policies` makes one policy per configured router; :func:`explicit_decision` honours a
request for a concrete model.
"""

from __future__ import annotations

from typing import Protocol

from switchman.catalog import Catalog, ModelEntry, Stats
from switchman.config.model import Config, RouterConfig
from switchman.routing.decision import Candidate, Decision
from switchman.routing.request import RequestInfo

#: Output tokens assumed for cost estimates when the request does not bound them.
DEFAULT_EXPECTED_OUTPUT_TOKENS = 256


class Policy(Protocol):
    name: str

    def decide(self, request: RequestInfo, catalog: Catalog, stats: Stats) -> Decision: ...


def estimate_prompt_tokens(request: RequestInfo) -> int:
    """A cheap estimate of the prompt's tokens (≈ 4 characters a token)."""
    chars = 0
    for m in request.request.messages:
        content = m.get("content")
        if isinstance(content, str):
            chars += len(content)
        elif isinstance(content, list):
            for part in content:
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    chars += len(part["text"])
    return chars // 4 + 4 * len(request.request.messages)


def expected_cost(entry: ModelEntry, prompt_tokens: int, request: RequestInfo) -> float:
    out = request.request.max_output_tokens or DEFAULT_EXPECTED_OUTPUT_TOKENS
    return entry.cost_usd(prompt_tokens, min(out, DEFAULT_EXPECTED_OUTPUT_TOKENS))


def explicit_decision(request: RequestInfo, catalog: Catalog) -> Decision:
    """A request for a concrete model goes there (an explicit choice is always honoured)."""
    entry = catalog[request.requested_model]
    tokens = estimate_prompt_tokens(request)
    cand = Candidate(entry.name, None, expected_cost(entry, tokens, request), "explicit")
    return Decision(chain=(cand,), policy="explicit", features={"prompt_tokens": float(tokens)})


class ListPolicy:
    """Orders candidates by price (``cheapest``), tier (``quality``) or config order (``ordered``)."""

    def __init__(self, name: str, config: RouterConfig) -> None:
        self.name = name
        self.config = config

    def decide(self, request: RequestInfo, catalog: Catalog, stats: Stats) -> Decision:
        names = self.config.models or list(catalog)
        entries = [catalog[n] for n in names]
        if self.config.policy == "cheapest":
            entries.sort(key=lambda e: (e.input_price + e.output_price, -e.tier_rank))
        elif self.config.policy == "quality":
            entries.sort(key=lambda e: (-e.tier_rank, e.input_price + e.output_price))
        tokens = estimate_prompt_tokens(request)
        chain = tuple(
            Candidate(
                e.name,
                None,
                expected_cost(e, tokens, request),
                f"{self.config.policy}" if i == 0 else "fallback",
            )
            for i, e in enumerate(entries)
            if stats.available(e.name)
        )[: self.config.max_fallbacks + 1]
        return Decision(chain=chain, policy=self.name, features={"prompt_tokens": float(tokens)})


def build_policies(config: Config) -> dict[str, Policy]:
    """One policy per configured router."""
    return {name: ListPolicy(name, rc) for name, rc in config.routers.items()}
