"""Policies turn a request into a :class:`Decision`. Pure and synchronous (no I/O per request).

Every configured router is a :class:`PipelinePolicy`:

1. analysis (``routing/analyze.py``), once per request;
2. constraints drop models that cannot serve it (``routing/rules.py``);
3. rules (overrides) in order; the first decisive one (model/tier/router) skips semantic routes;
4. semantic routes (``routing/semantic.py``) on the request's embedding;
5. scoring (``routing/scoring.py``): learned quality prediction when the router has a predictor, else
   the heuristic prior; ordered by the router's policy (cheapest/ordered/quality/threshold/utility);
6. the chain: the preferred candidates first, then the others as fallbacks, up to ``max_fallbacks``.

The embedder, tokenizer and predictor are loaded when the policy is built (not at import, not per
request), and one embedding per request is shared by semantic routes and the predictor.
:func:`build_policies` makes one policy per router; :func:`explicit_decision` honours a concrete model.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

from switchman.catalog import Catalog, ModelEntry, Stats
from switchman.config.model import Config
from switchman.config.routing import RouterConfig, RouteTarget, ScoringPolicy
from switchman.errors import ConfigError, NoCandidate
from switchman.routing.analyze import Analysis, analyze
from switchman.routing.decision import Candidate, Decision
from switchman.routing.request import RequestInfo
from switchman.routing.rounding import round4
from switchman.routing.rules import apply_target, compile_rules, filter_candidates, first_rules
from switchman.routing.scoring import (
    QualityPredictor,
    Scored,
    order,
    predicted_output_tokens,
    score_candidates,
)
from switchman.routing.tokens import TokenCounter, get_token_counter
from switchman.routing.trace import RoutedDecision, build_route_trace

if TYPE_CHECKING:  # embedders and semantic indexes (numpy) are imported only by routers that use them
    import numpy as np
    import numpy.typing as npt

    from switchman.routing.embed import Embedder
    from switchman.routing.semantic import SemanticIndex

__all__ = [
    "DEFAULT_COST_WEIGHT",
    "DEFAULT_TARGET",
    "LoadedPredictor",
    "PipelinePolicy",
    "Policy",
    "build_policies",
    "explicit_decision",
    "load_predictor",
]

_MAX_DELEGATION = 4


class Policy(Protocol):
    name: str

    def decide(self, request: RequestInfo, catalog: Catalog, stats: Stats) -> Decision: ...


#: λ of the ``utility`` policy when neither the config nor the predictor artifact sets one.
DEFAULT_COST_WEIGHT = 100.0
#: Quality target of the ``threshold`` policy when neither the config nor the predictor artifact sets one.
DEFAULT_TARGET = 0.7


@dataclass(frozen=True, slots=True)
class LoadedPredictor:
    predictor: QualityPredictor
    embedder_id: str
    cost_weight: float | None  # the artifact's calibrated λ, if any
    target: float | None = None  # the artifact's calibrated quality target, if any


def load_predictor(path: str) -> LoadedPredictor:
    """The learned predictor in the router artifact ``path`` (``switchman train``), the embedder it was
    trained with and its calibrated λ and quality target (``switchman calibrate``). Reads files: call at
    build time only."""
    from switchman.routing.learned import load_router

    artifact = load_router(path)
    predictor: Any = artifact.predictor
    if not callable(getattr(predictor, "predict", None)):  # (QualityPredictor is not runtime-checkable)
        raise ConfigError(f"{path}: the predictor has no predict(embedding, features)")
    cal = artifact.calibration or {}
    lam, target = cal.get("lambda"), cal.get("target")
    return LoadedPredictor(
        predictor,
        artifact.embedder_id,
        float(lam) if lam is not None else None,
        float(target) if target is not None else None,
    )


class PipelinePolicy:
    """constraints → rules → semantic routes → scoring → chain (see module doc)."""

    def __init__(
        self,
        name: str,
        config: RouterConfig,
        *,
        embedder: Embedder | None = None,
        predictor: QualityPredictor | None = None,
        counter: TokenCounter | None = None,
        routers: Mapping[str, PipelinePolicy] | None = None,
        clock: Callable[[], float] = time.time,
        cost_weight: float | None = None,
        target: float | None = None,
    ) -> None:
        self.name = name
        self.config = config
        #: λ of the utility policy: the config's, else the caller's (a calibrated artifact), else default.
        self.cost_weight = next(
            w for w in (config.cost_weight, cost_weight, DEFAULT_COST_WEIGHT) if w is not None
        )
        #: Target of the threshold policy: the config's, else the caller's (a calibrated artifact), else
        #: default; ``switchman/auto@0.8`` still overrides it per request.
        self.target = next(t for t in (config.target, target, DEFAULT_TARGET) if t is not None)
        self.embedder = embedder
        self.predictor = predictor
        self.counter = counter or get_token_counter()
        self.routers: Mapping[str, PipelinePolicy] = routers if routers is not None else {}
        self.clock = clock
        self._prep: _Prepared | None = None
        self._rules = compile_rules(config.rules)
        if config.routes and embedder is None:
            raise ConfigError(f"routers.{name}: semantic routes need an embedder")
        self.index: SemanticIndex | None = None
        #: The request text's embedding (``embed_one`` on this router's embedder), bound once.
        self._embed_text: Callable[[str], npt.NDArray[np.float32]] | None = None
        if embedder is not None:
            from switchman.routing.embed import embed_one

            self._embed_text = partial(embed_one, embedder)
        if config.routes and embedder is not None:
            from switchman.routing.semantic import SemanticIndex

            self.index = SemanticIndex(config.routes, embedder)

    def _prepared(self, catalog: Catalog) -> _Prepared:
        """What every request of this router reads from its config and ``catalog`` (kept for the catalog
        it was made for: a runtime keeps one catalog for its life)."""
        prep = self._prep
        if prep is None or prep.catalog is not catalog:
            cfg = self.config
            prep = self._prep = _Prepared(
                catalog,
                tuple(catalog[n] for n in (cfg.models or list(catalog)) if n in catalog),
                len(catalog.tiers),
                catalog.smallest_context // 2,
                {name: i for i, name in enumerate(cfg.models)},
            )
        return prep

    def decide(self, request: RequestInfo, catalog: Catalog, stats: Stats) -> RoutedDecision:
        # exact token counts only where a context window could be near (rules may hand over to other
        # routers, so the smallest window of the whole catalog is the safe bound)
        analysis = analyze(request, self.counter, exact_from=self._prepared(catalog).exact_from)
        return self._decide(request, catalog, stats, analysis, (), 0)

    def _decide(
        self,
        request: RequestInfo,
        catalog: Catalog,
        stats: Stats,
        analysis: Analysis,
        steps_in: tuple[str, ...],
        depth: int,
    ) -> RoutedDecision:
        cfg = self.config
        prep = self._prepared(catalog)
        kept, dropped = filter_candidates(prep.entries, analysis, request, stats, catalog.smallest_context)
        if not kept:
            why = ", ".join(f"{m} ({r})" for m, r in dropped) or "no candidate models"
            raise NoCandidate(f"no model of router '{self.name}' can serve this request: {why}")
        target = self.target if request.threshold is None else request.threshold
        # rules and routes narrow the candidates (``narrowing`` is made by the first that applies)
        narrowing: _Narrowing | None = None
        if self._rules:
            for rule in first_rules(self._rules, analysis, request, self.clock()):
                label = f"rule:{rule.name}"
                if rule.then.router is not None:
                    so_far = narrowing.steps if narrowing is not None else list(steps_in)
                    return self._delegate(
                        rule.then.router, label, request, catalog, stats, analysis, so_far, depth
                    )
                if narrowing is None:
                    narrowing = _Narrowing(kept, cfg.policy, target, list(steps_in))
                narrowing.apply(label, rule.then, catalog.tiers, request.threshold)
        decisive = narrowing is not None and narrowing.decisive

        if (
            analysis.embedding is None
            and self._embed_text is not None
            and (self.predictor is not None or (self.index is not None and not decisive))
        ):
            analysis = analysis.with_embedding(self._embed_text(analysis.text))
        route_scores: tuple[tuple[str, float], ...] = ()
        if self.index is not None and not decisive and analysis.embedding is not None:
            match = self.index.match(analysis.embedding)
            route_scores = match.scores
            if match.route is not None:
                label = f"route:{match.route.name}={match.similarity:.2f}"
                if match.route.then.router is not None:
                    so_far = narrowing.steps if narrowing is not None else list(steps_in)
                    return self._delegate(
                        match.route.then.router, label, request, catalog, stats, analysis, so_far, depth
                    )
                if narrowing is None:
                    narrowing = _Narrowing(kept, cfg.policy, target, list(steps_in))
                narrowing.apply(label, match.route.then, catalog.tiers, request.threshold)

        if narrowing is None:
            pool, rest, policy, steps = kept, [], cfg.policy, steps_in
            tier_goal: int | None = None
            notes: tuple[str, ...] = ()
        else:
            pool, rest, policy, target = narrowing.pool, narrowing.rest, narrowing.policy, narrowing.target
            steps, tier_goal, notes = tuple(narrowing.steps), narrowing.tier_goal, tuple(narrowing.notes)

        predicted = None
        if self.predictor is not None and analysis.embedding is not None:
            predicted = self.predictor.predict(analysis.embedding, analysis.features(complete=True))

        def rank(entries: Sequence[ModelEntry]) -> tuple[list[Scored], str]:
            scored = score_candidates(entries, analysis, prep.n_tiers, predicted, cfg.expected_output_tokens)
            return order(scored, policy, target, self.cost_weight, cfg.models, prep.positions)

        ranked, why = rank(pool)
        if rest:
            ranked_rest, _ = rank(rest)
            if tier_goal is not None:
                goal = tier_goal
                ranked_rest.sort(key=lambda s: (abs(s.entry.tier_rank - goal), -s.entry.tier_rank))
            full = ranked + ranked_rest
        else:
            full = ranked
        chain = full[: cfg.max_fallbacks + 1]
        primary_reason = "|".join([*steps, why]) if steps else why
        candidates = tuple(
            [
                Candidate(s.entry.name, round4(s.quality), s.cost_usd, "fallback" if i else primary_reason)
                for i, s in enumerate(chain)
            ]
        )
        features = analysis.features()
        features["target"] = target
        if route_scores:
            features["route_similarity"] = max(s for _, s in route_scores)
        trace = partial(
            build_route_trace,
            self.name,
            self.embedder.model_id if self.embedder is not None else None,
            cfg.predictor if self.predictor is not None else None,
            analysis,
            policy,
            target,
            steps,
            route_scores,
            full,
            len(chain),
            primary_reason,
            dropped,
            catalog,
            notes,
        )
        return RoutedDecision(candidates, self.name, features, tuple(dropped), trace)

    def _delegate(
        self,
        router: str,
        label: str,
        request: RequestInfo,
        catalog: Catalog,
        stats: Stats,
        analysis: Analysis,
        steps: list[str],
        depth: int,
    ) -> RoutedDecision:
        other = self.routers.get(router)
        if other is None or depth >= _MAX_DELEGATION:
            raise ConfigError(f"routers.{self.name}: cannot hand over to router '{router}'")
        return other._decide(request, catalog, stats, analysis, (*steps, f"{label}>{router}"), depth + 1)


@dataclass(frozen=True, slots=True)
class _Prepared:
    """A router's per-catalog constants (see :meth:`PipelinePolicy._prepared`)."""

    catalog: Catalog
    entries: tuple[ModelEntry, ...]  # the router's models, in its order
    n_tiers: int
    exact_from: int  # analysis counts tokens exactly from this bound on
    positions: dict[str, int]  # index of each configured model (the ``ordered`` policy)


@dataclass(slots=True)
class _Narrowing:
    """The candidates and scoring as rules and routes change them (see ``apply_target``)."""

    pool: list[ModelEntry]
    policy: ScoringPolicy
    target: float
    steps: list[str]
    rest: list[ModelEntry] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    tier_goal: int | None = None
    decisive: bool = False

    def apply(self, label: str, then: RouteTarget, tiers: Sequence[str], threshold: float | None) -> None:
        narrowed = apply_target(then, self.pool, tiers)
        self.pool, self.rest = narrowed.preferred, self.rest + narrowed.rest
        if narrowed.note:
            self.notes.append(f"{label}:{narrowed.note}")
        if then.policy is not None:
            self.policy = then.policy
        if then.target is not None and threshold is None:
            self.target = then.target
        if then.tier is not None:
            self.tier_goal = self.pool[0].tier_rank
        self.steps.append(label)
        self.decisive = self.decisive or then.decisive


def explicit_decision(
    request: RequestInfo, catalog: Catalog, counter: TokenCounter | None = None
) -> Decision:
    """A request for a concrete model goes there (an explicit choice is always honoured)."""
    entry: ModelEntry = catalog[request.requested_model]
    analysis = analyze(request, counter, exact_from=entry.context_window // 2)
    out_tokens = predicted_output_tokens(analysis, entry)
    cost = entry.cost_usd(analysis.conversation_tokens, out_tokens)
    return Decision(
        chain=(Candidate(entry.name, None, cost, "explicit"),),
        policy="explicit",
        features=analysis.features(),
    )


def _load_embedder(name: str, loader: Callable[[str], Embedder] | None) -> Embedder:
    if loader is None:
        from switchman.routing.embed import get_embedder

        return get_embedder(name)
    return loader(name)


def build_policies(
    config: Config,
    *,
    embedder_loader: Callable[[str], Embedder] | None = None,
    clock: Callable[[], float] = time.time,
) -> dict[str, Policy]:
    """One pipeline per configured router; embedders and predictors are loaded here, once."""
    counter = get_token_counter()
    routers: dict[str, PipelinePolicy] = {}
    for name, rc in config.routers.items():
        loaded = load_predictor(rc.predictor) if rc.predictor is not None else None
        # one embedding per request: routes use the embedder the predictor was trained with
        embedder_name = loaded.embedder_id if loaded is not None else rc.embedder
        needs_embedding = bool(rc.routes) or loaded is not None
        embedder = _load_embedder(embedder_name, embedder_loader) if needs_embedding else None
        if loaded is not None and embedder is not None and embedder.model_id != loaded.embedder_id:
            raise ConfigError(
                f"routers.{name}: predictor {rc.predictor} was trained with embedder "
                f"{loaded.embedder_id!r}, not {embedder.model_id!r}"
            )
        routers[name] = PipelinePolicy(
            name,
            rc,
            embedder=embedder,
            predictor=loaded.predictor if loaded is not None else None,
            counter=counter,
            routers=routers,
            clock=clock,
            cost_weight=loaded.cost_weight if loaded is not None else None,
            target=loaded.target if loaded is not None else None,
        )
    return dict(routers)
