"""The outcomes dataset: per-prompt, per-model quality (and cost) — the input of train, eval and calibrate.

One JSON object per line::

    {"id": "mmlu/anatomy/12", "prompt": "…" | "messages": [{"role": "user", "content": "…"}],
     "task": "anatomy",                                   # optional
     "outcomes": {"gpt-4o": {"score": 1.0, "cost": 0.0021, "input_tokens": 310, "output_tokens": 45},
                  "gpt-4o-mini": {"score": 0.0}}}

``score`` is in [0, 1]; ``cost`` is USD for that call; tokens are optional. A model may be missing on some
lines (its cells are NaN in :class:`OutcomeMatrix`). Missing costs can be filled from per-model prices and
estimated token counts with :func:`fill_costs`.

The text a router sees for a prompt is :func:`routing_text`: the prompt, or the last user message of
``messages`` — the same text the gateway's request analysis reads, so training and serving agree.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from switchman.errors import DatasetError
from switchman.routing.analyze import estimate_tokens

__all__ = [
    "ModelOutcome",
    "OutcomeMatrix",
    "OutcomeRecord",
    "estimate_tokens",
    "fill_costs",
    "read_outcomes",
    "routing_text",
    "to_matrix",
    "write_outcomes",
]


@dataclass(frozen=True, slots=True)
class ModelOutcome:
    score: float
    cost: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"score": self.score}
        if self.cost is not None:
            out["cost"] = self.cost
        if self.input_tokens is not None:
            out["input_tokens"] = self.input_tokens
        if self.output_tokens is not None:
            out["output_tokens"] = self.output_tokens
        return out


@dataclass(frozen=True, slots=True)
class OutcomeRecord:
    id: str
    outcomes: Mapping[str, ModelOutcome]
    prompt: str | None = None
    messages: tuple[Mapping[str, Any], ...] | None = None
    task: str | None = None

    @property
    def text(self) -> str:
        return routing_text(self.prompt, self.messages)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id}
        if self.prompt is not None:
            out["prompt"] = self.prompt
        if self.messages is not None:
            out["messages"] = [dict(m) for m in self.messages]
        if self.task is not None:
            out["task"] = self.task
        out["outcomes"] = {m: o.to_json() for m, o in self.outcomes.items()}
        return out


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # OpenAI content parts
        return "\n".join(
            str(p.get("text", "")) for p in content if isinstance(p, dict) and p.get("type") == "text"
        )
    return ""


def routing_text(prompt: str | None, messages: Sequence[Mapping[str, Any]] | None = None) -> str:
    """The text a router reads: the prompt, else the last user message (as the gateway's analysis does)."""
    if prompt is not None:
        return prompt
    user = [_content_text(m.get("content")) for m in messages or () if m.get("role") == "user"]
    return user[-1] if user else ""


def _parse_outcome(model: str, raw: Any, where: str) -> ModelOutcome:
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        raw = {"score": raw}
    if not isinstance(raw, dict) or "score" not in raw:
        raise DatasetError(f"{where}: outcome for {model!r} needs a 'score'")
    try:
        score = float(raw["score"])
        cost = None if raw.get("cost") is None else float(raw["cost"])
        itok = None if raw.get("input_tokens") is None else int(raw["input_tokens"])
        otok = None if raw.get("output_tokens") is None else int(raw["output_tokens"])
    except (TypeError, ValueError) as exc:
        raise DatasetError(f"{where}: outcome for {model!r} is not numeric: {exc}") from exc
    if not (0.0 <= score <= 1.0) or math.isnan(score):
        raise DatasetError(f"{where}: score for {model!r} must be in [0, 1], got {score}")
    return ModelOutcome(score, cost, itok, otok)


def parse_record(obj: Any, where: str = "record") -> OutcomeRecord:
    """Validate one decoded JSON object as an :class:`OutcomeRecord`."""
    if not isinstance(obj, dict):
        raise DatasetError(f"{where}: expected a JSON object")
    prompt, messages = obj.get("prompt"), obj.get("messages")
    if prompt is None and messages is None:
        raise DatasetError(f"{where}: needs 'prompt' or 'messages'")
    if prompt is not None and not isinstance(prompt, str):
        raise DatasetError(f"{where}: 'prompt' must be a string")
    if messages is not None and not (
        isinstance(messages, list) and all(isinstance(m, dict) for m in messages)
    ):
        raise DatasetError(f"{where}: 'messages' must be a list of objects")
    raw_outcomes = obj.get("outcomes", {})  # prompts-only traffic (for calibration) has none
    if not isinstance(raw_outcomes, dict):
        raise DatasetError(f"{where}: 'outcomes' must be an object of model -> outcome")
    outcomes = {str(m): _parse_outcome(str(m), v, where) for m, v in raw_outcomes.items()}
    task = obj.get("task")
    return OutcomeRecord(
        id=str(obj.get("id", where)),
        outcomes=outcomes,
        prompt=prompt,
        messages=tuple(messages) if messages is not None else None,
        task=None if task is None else str(task),
    )


def iter_outcomes(path: Path | str) -> Iterator[OutcomeRecord]:
    p = Path(path)
    try:
        fh = p.open("rb")
    except OSError as exc:
        raise DatasetError(f"cannot read {p}: {exc}") from exc
    with fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise DatasetError(f"{p}:{lineno}: invalid JSON: {exc}") from exc
            yield parse_record(obj, f"{p}:{lineno}")


def read_outcomes(path: Path | str) -> list[OutcomeRecord]:
    """All records of a JSONL outcomes file (validated; duplicate ids are an error)."""
    records = list(iter_outcomes(path))
    seen: set[str] = set()
    for r in records:
        if r.id in seen:
            raise DatasetError(f"{path}: duplicate id {r.id!r}")
        seen.add(r.id)
    return records


def write_outcomes(path: Path | str, records: Iterable[OutcomeRecord]) -> int:
    """Write records as JSONL; returns the number written."""
    n = 0
    with Path(path).open("wb") as fh:
        for r in records:
            fh.write(orjson.dumps(r.to_json()) + b"\n")
            n += 1
    return n


# --- costs -----------------------------------------------------------------------------------------


def fill_costs(
    records: Iterable[OutcomeRecord],
    prices: Mapping[str, tuple[float, float]],
    *,
    default_output_tokens: int = 256,
) -> list[OutcomeRecord]:
    """Fill missing costs from ``prices[model] = (input $/1M, output $/1M)`` and (estimated) tokens."""
    out = []
    for r in records:
        filled = {}
        for model, o in r.outcomes.items():
            if o.cost is None and model in prices:
                pin, pout = prices[model]
                itok = o.input_tokens if o.input_tokens is not None else estimate_tokens(r.text)
                otok = o.output_tokens if o.output_tokens is not None else default_output_tokens
                o = replace(o, cost=(itok * pin + otok * pout) / 1e6)
            filled[model] = o
        out.append(replace(r, outcomes=filled))
    return out


# --- dense view ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OutcomeMatrix:
    """Dense arrays over (prompt, model); NaN where a model has no outcome (or no cost) for a prompt."""

    ids: tuple[str, ...]
    texts: tuple[str, ...]
    tasks: tuple[str | None, ...]
    models: tuple[str, ...]
    scores: npt.NDArray[np.float64]
    costs: npt.NDArray[np.float64]
    fingerprint: str = field(default="")

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, rows: npt.NDArray[np.intp] | Sequence[int]) -> OutcomeMatrix:
        idx = np.asarray(rows, dtype=np.intp)
        return OutcomeMatrix(
            ids=tuple(self.ids[i] for i in idx),
            texts=tuple(self.texts[i] for i in idx),
            tasks=tuple(self.tasks[i] for i in idx),
            models=self.models,
            scores=self.scores[idx],
            costs=self.costs[idx],
            fingerprint=self.fingerprint,
        )

    @property
    def has_costs(self) -> bool:
        return bool(np.isfinite(self.costs).all())


def to_matrix(records: Sequence[OutcomeRecord], models: Sequence[str] | None = None) -> OutcomeMatrix:
    """Dense view of records; ``models`` defaults to every model seen, in first-seen order."""
    if models is None:
        seen: dict[str, None] = {}
        for r in records:
            seen.update(dict.fromkeys(r.outcomes))
        models = list(seen)
    scores = np.full((len(records), len(models)), np.nan)
    costs = np.full((len(records), len(models)), np.nan)
    digest = hashlib.sha256()
    for i, r in enumerate(records):
        digest.update(r.id.encode() + b"\0" + r.text.encode() + b"\0")
        for j, m in enumerate(models):
            o = r.outcomes.get(m)
            if o is not None:
                scores[i, j] = o.score
                costs[i, j] = np.nan if o.cost is None else o.cost
                digest.update(f"{m}={o.score:.6g}\0".encode())
    return OutcomeMatrix(
        ids=tuple(r.id for r in records),
        texts=tuple(r.text for r in records),
        tasks=tuple(r.task for r in records),
        models=tuple(models),
        scores=scores,
        costs=costs,
        fingerprint="sha256:" + digest.hexdigest()[:32],
    )
