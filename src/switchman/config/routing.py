"""Router settings: scoring policies, rules (overrides) and semantic routes (see docs/routing.md)."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field, field_validator

from switchman.config.base import Strict as _Strict

ScoringPolicy = Literal["cheapest", "ordered", "quality", "threshold", "utility"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class RuleWhen(_Strict):
    """Conditions of a routing rule; all given conditions must hold (an empty ``when`` always matches)."""

    #: Caller's declared tier (``x-switchman-tier`` / ``metadata.tier``), e.g. ``premium``.
    tier: list[str] = Field(default_factory=list)
    latency: list[Literal["interactive", "batch"]] = Field(default_factory=list)
    task: list[str] = Field(default_factory=list)
    #: API key ids.
    keys: list[str] = Field(default_factory=list)
    #: Hours of the day, UTC, ``[start, end)``; wraps past midnight when start > end (e.g. ``[22, 6]``).
    hours_utc: tuple[int, int] | None = None
    days: list[Weekday] = Field(default_factory=list)
    #: Bounds on the counted conversation tokens.
    min_tokens: int | None = Field(None, ge=0)
    max_tokens: int | None = Field(None, ge=0)
    code: bool | None = None
    #: Guessed language codes (``en``, ``zh``, ``es``, ...).
    language: list[str] = Field(default_factory=list)
    vision: bool | None = None
    tools: bool | None = None
    json_mode: bool | None = Field(None, alias="json")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("hours_utc")
    @classmethod
    def _hours(cls, v: tuple[int, int] | None) -> tuple[int, int] | None:
        if v is not None and not all(0 <= h <= 24 for h in v):
            raise ValueError("hours_utc must be two hours in 0..24")
        return v


class RouteTarget(_Strict):
    """What a matching rule or semantic route does. ``model``, ``tier`` and ``router`` decide (the
    pipeline stops there); the other fields only narrow the candidates or tune the scoring."""

    #: Send to this model (when it passes the constraints).
    model: str | None = None
    #: Prefer models of this tier: a tier name, ``top`` (strongest available) or ``bottom``.
    tier: str | None = None
    min_tier: str | None = None
    max_tier: str | None = None
    #: Keep only models of these latency classes.
    latency: list[Literal["low", "medium", "high"]] = Field(default_factory=list)
    #: Hand the request to another router.
    router: str | None = None
    #: Scoring policy and quality target to use from here on.
    policy: ScoringPolicy | None = None
    target: float | None = Field(None, ge=0, le=1)

    @property
    def decisive(self) -> bool:
        return self.model is not None or self.tier is not None or self.router is not None


class RuleConfig(_Strict):
    """An override: when the request matches ``when``, apply ``then``. Rules run in order; the first
    decisive rule (model/tier/router) ends the overrides and skips semantic routes."""

    name: str
    when: RuleWhen = Field(default_factory=RuleWhen)
    then: RouteTarget


class SemanticRouteConfig(_Strict):
    """Example utterances; a request whose embedding is at least ``threshold`` cosine-similar to one
    of them takes this route (the most similar route wins)."""

    name: str
    examples: list[str] = Field(min_length=1)
    threshold: float = Field(0.75, ge=-1, le=1)
    then: RouteTarget


class RouterConfig(_Strict):
    """A router model (e.g. ``switchman/auto``): a policy over a set of candidate models.

    Every router runs the same pipeline: constraints → rules → semantic routes → scoring.
    """

    #: Scoring: ``cheapest`` (lowest expected cost first), ``ordered`` (the order of ``models``),
    #: ``quality`` (strongest tier first), ``threshold`` (cheapest model whose predicted quality
    #: clears ``target``), ``utility`` (max predicted quality − cost_weight · expected cost in USD).
    policy: ScoringPolicy = "cheapest"
    #: Candidate models, in order; empty = every configured model.
    models: list[str] = Field(default_factory=list)
    #: How many fallbacks follow the primary in the chain.
    max_fallbacks: int = Field(2, ge=0)
    description: str = ""
    #: Quality target of the ``threshold`` policy (``switchman/auto@0.8`` overrides it per request);
    #: default: the predictor artifact's calibrated target (``switchman calibrate``), else 0.7.
    target: float | None = Field(None, ge=0, le=1)
    #: λ of the ``utility`` policy, quality per USD of one request's expected cost; default: the
    #: predictor artifact's calibrated λ (``switchman calibrate``), else 100.
    cost_weight: float | None = Field(None, ge=0)
    #: Overrides, in order.
    rules: list[RuleConfig] = Field(default_factory=list)
    #: Semantic routes.
    routes: list[SemanticRouteConfig] = Field(default_factory=list)
    #: Embedder for semantic routes and the learned predictor (``hashing``, ``wordllama``, ``minilm``,
    #: ``minilm@N`` for an N-token window).
    embedder: str = "wordllama"
    #: Directory of a learned router artifact (``switchman train``); none = the heuristic quality prior.
    predictor: str | None = None
    #: Output tokens assumed for cost estimates (default: predicted from the request).
    expected_output_tokens: int | None = Field(None, gt=0)
