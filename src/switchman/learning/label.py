"""``switchman label``: outcome data from a prompt log, by asking each candidate model and scoring it.

Calls go through switchman's own providers and catalog; answers are scored against a reference or by a
judge model (absolute 1–10, or pairwise against the first model in both orders; see judge.py). Calls run
concurrently under one semaphore; each call's cost is bounded from above and reserved against the cap
before it starts, so a run stops cleanly before crossing it; a rerun resumes (see labelfile.py).
Upstream failures are retried with backoff, then recorded as missing for that prompt and model.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from switchman.catalog import Catalog
from switchman.errors import ConfigError, UpstreamError
from switchman.learning.costcap import CostCap
from switchman.learning.judge import (
    absolute_messages,
    combine_verdicts,
    pairwise_messages,
    parse_rating,
    parse_verdict,
    rating_score,
    reference_score,
)
from switchman.learning.labelfile import (
    Answer,
    PromptItem,
    PromptState,
    append_line,
    compact,
    load_existing,
)
from switchman.learning.outcomes import estimate_tokens
from switchman.providers.base import Provider
from switchman.wire import chat_request_from_json, response_text

__all__ = ["LabelResult", "LabelSettings", "Labeller"]

Mode = Literal["reference", "absolute", "pairwise"]
_CAP_NOTE = "not asked: --max-cost-usd reached"
_NOT_JUDGED = "answered, not judged: --max-cost-usd reached"


@dataclass(frozen=True, slots=True)
class LabelSettings:
    models: tuple[str, ...]
    mode: Mode
    judge: str | None = None
    concurrency: int = 8
    max_cost_usd: float | None = None
    max_tokens: int = 1024  # per answer (and per judgement): the cost bound of one call
    timeout: float = 120.0
    retries: int = 2
    backoff_s: float = 0.5

    def check(self, catalog: Catalog, providers: Mapping[str, Provider]) -> None:
        if not self.models:
            raise ConfigError("label needs at least one model")
        if self.mode != "reference" and self.judge is None:
            raise ConfigError(f"--mode {self.mode} needs --judge MODEL")
        if self.mode == "pairwise" and len(self.models) < 2:
            raise ConfigError("--mode pairwise needs at least two models (the first is the anchor)")
        for name in (*self.models, *([self.judge] if self.judge else [])):
            if name not in catalog:
                raise ConfigError(f"model {name!r} is not in the config (known: {', '.join(catalog)})")
            if catalog[name].provider not in providers:
                raise ConfigError(f"model {name!r}: provider {catalog[name].provider!r} is not configured")


@dataclass(frozen=True, slots=True)
class LabelResult:
    total: int  # prompts in the log
    skipped: int  # already complete in the output file
    processed: int  # prompts worked on in this run
    complete: int  # prompts with an outcome for every model, in the file now
    left: int  # prompts not yet complete
    spent_usd: float
    judge_usd: float
    calls: int
    failed_calls: int
    stopped: str | None


class Labeller:
    def __init__(self, settings: LabelSettings, catalog: Catalog, providers: Mapping[str, Provider]) -> None:
        settings.check(catalog, providers)
        self.s = settings
        self.catalog = catalog
        self.providers = providers
        self.cap = CostCap(settings.max_cost_usd)
        self.sem = asyncio.Semaphore(settings.concurrency)
        self.calls = 0
        self.failed_calls = 0

    # --- one call --------------------------------------------------------------------------------

    async def call(self, model: str, messages: list[dict[str, Any]], *, judge: bool = False) -> Answer | None:
        """Ask ``model``, retrying retryable upstream errors; None when the cost cap stops the call."""
        entry = self.catalog[model]
        body: dict[str, Any] = {
            "model": entry.upstream,
            "messages": messages,
            "max_tokens": self.s.max_tokens,
        }
        if judge:
            body["temperature"] = 0
        req = chat_request_from_json(body)
        chars = sum(len(str(m.get("content") or "")) for m in messages)
        estimate = entry.cost_usd(chars // 3 + 8 * len(messages) + 16, self.s.max_tokens)
        provider = self.providers[entry.provider]
        for attempt in range(self.s.retries + 1):
            async with self.sem:
                if not await self.cap.reserve(estimate):
                    return None
                self.calls += 1
                try:
                    resp = await provider.complete(req, model=entry.upstream, timeout=self.s.timeout)
                except UpstreamError as exc:
                    await self.cap.settle(estimate, 0.0, judge=judge)
                    self.failed_calls += 1
                    if not exc.retryable or attempt == self.s.retries:
                        raise
                    wait = exc.retry_after if exc.retry_after is not None else self.s.backoff_s * 2**attempt
                else:
                    text = response_text(resp.data)
                    u = resp.usage
                    itok = u.prompt_tokens if u else estimate_tokens(str(messages))
                    otok = u.completion_tokens if u else estimate_tokens(text)
                    cost = entry.cost_usd(itok, otok, u.cached_tokens if u else 0)
                    await self.cap.settle(estimate, cost, judge=judge)
                    return Answer(text, cost, itok, otok)
            await asyncio.sleep(min(wait, 10.0))
        raise AssertionError("unreachable")  # pragma: no cover

    # --- one prompt ------------------------------------------------------------------------------

    async def _answer(self, state: PromptState, model: str) -> None:
        try:
            answer = await self.call(model, state.item.chat_messages())
        except UpstreamError as exc:
            attempts = "" if not exc.retryable else f" (after {self.s.retries + 1} attempts)"
            state.fail(model, f"{type(exc).__name__}: {exc}{attempts}")
            return
        if answer is None:
            state.missing[model] = _CAP_NOTE
        else:
            state.answers[model] = answer
            state.touched = True

    async def _judge(self, state: PromptState, model: str) -> None:
        item, answer = state.item, state.answers[model].text
        try:
            if self.s.mode == "reference":
                if item.reference is None:
                    state.fail(model, "no reference answer in the prompt log")
                else:
                    state.score(model, reference_score(answer, item.reference))
            elif self.s.mode == "absolute":
                await self._absolute(state, model, answer)
            else:
                await self._pairwise(state, model, answer)
        except UpstreamError as exc:
            state.fail(model, f"judge failed: {type(exc).__name__}: {exc}")

    async def _absolute(self, state: PromptState, model: str, answer: str) -> None:
        assert self.s.judge is not None
        q = state.item.question
        verdict = await self.call(
            self.s.judge, absolute_messages(q, answer, state.item.reference), judge=True
        )
        if verdict is None:
            state.missing[model] = _NOT_JUDGED
            return
        rating = parse_rating(verdict.text)
        if rating is None:
            state.fail(model, f"judge gave no 1-10 rating: {verdict.text[:120]!r}")
        else:
            state.score(model, rating_score(rating))

    async def _pairwise(self, state: PromptState, model: str, answer: str) -> None:
        assert self.s.judge is not None
        anchor = self.s.models[0]
        if model == anchor:
            state.score(model, 0.5)  # a tie with itself: scores are win rates against the anchor
            return
        q, ref, base = state.item.question, state.item.reference, state.answers[anchor].text
        first, second = await asyncio.gather(
            self.call(self.s.judge, pairwise_messages(q, answer, base, ref), judge=True),
            self.call(self.s.judge, pairwise_messages(q, base, answer, ref), judge=True),
        )
        if first is None or second is None:
            state.missing[model] = _NOT_JUDGED
            return
        v1, v2 = parse_verdict(first.text), parse_verdict(second.text)
        if v1 is None or v2 is None:
            bad = first.text if v1 is None else second.text
            state.fail(model, f"judge gave no [[A]]/[[B]]/[[C]] verdict: {bad[:120]!r}")
        else:
            state.score(model, combine_verdicts(v1, v2))

    async def label_prompt(self, state: PromptState) -> None:
        todo = [m for m in self.s.models if m not in state.outcomes]
        ask = [m for m in todo if m not in state.answers]
        if (
            self.s.mode == "pairwise"
            and self.s.models[0] not in state.answers
            and self.s.models[0] not in ask
        ):
            ask.insert(0, self.s.models[0])  # the anchor's text is needed to judge the others
        await asyncio.gather(*(self._answer(state, m) for m in ask))
        anchor = self.s.models[0]
        if self.s.mode == "pairwise" and anchor not in state.answers:
            for m in todo:
                if m in state.answers:
                    why = _NOT_JUDGED if self.cap.stopped else f"no answer from the anchor {anchor!r}"
                    state.missing[m] = why
            return
        await asyncio.gather(*(self._judge(state, m) for m in todo if m in state.answers))

    # --- a run -----------------------------------------------------------------------------------

    async def run(
        self, items: Sequence[PromptItem], out: Path, progress: Callable[[int], None] | None = None
    ) -> LabelResult:
        order = [it.id for it in items]
        compact(out, order)
        existing = load_existing(out)
        states = []
        for it in items:
            outcomes, answers = existing.get(it.id, ({}, {}))
            states.append(PromptState(it, dict(outcomes), dict(answers)))
        todo = deque(s for s in states if any(m not in s.outcomes for m in self.s.models))
        skipped = len(states) - len(todo)
        if progress is not None and skipped:
            progress(skipped)
        processed = 0
        try:
            with out.open("ab") as fh:

                async def worker() -> None:
                    nonlocal processed
                    while todo and self.cap.stopped is None:
                        state = todo.popleft()
                        await self.label_prompt(state)
                        if state.touched:
                            append_line(fh, state)
                            processed += 1
                        if progress is not None:
                            progress(1)

                await asyncio.gather(*(worker() for _ in range(self.s.concurrency)))
        finally:
            compact(out, order)  # also after Ctrl-C: one line per prompt
        complete = sum(all(m in s.outcomes for m in self.s.models) for s in states)
        return LabelResult(
            total=len(states),
            skipped=skipped,
            processed=processed,
            complete=complete,
            left=len(states) - complete,
            spent_usd=self.cap.spent,
            judge_usd=self.cap.judge_spent,
            calls=self.calls,
            failed_calls=self.failed_calls,
            stopped=self.cap.stopped,
        )
