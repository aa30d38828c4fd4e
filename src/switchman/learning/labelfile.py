"""Files of ``switchman label``: the prompt log it reads and the outcomes file it appends to and resumes.

A prompt log line: ``{"id": …, "prompt": "…" | "messages": [...], "task": …?, REFERENCE_FIELD: …?}``.

An output line is an outcomes record (:mod:`switchman.learning.outcomes`, so train/eval/calibrate read it
as is) with three extra keys that those readers ignore::

    "reference": "42",                                  # when the log had one
    "answers": {MODEL: {"text": …, "cost": …, "input_tokens": …, "output_tokens": …}},
    "missing": {MODEL: "why it has no outcome"}          # failed upstream, no verdict, cost cap …

Lines are appended (and flushed) one prompt at a time; a resumed prompt is appended again, so the file is
compacted (last line per id wins, prompt-log order) when a run starts and when it ends.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from switchman.errors import DatasetError
from switchman.learning.outcomes import ModelOutcome, OutcomeRecord, parse_record

__all__ = [
    "Answer",
    "PromptItem",
    "PromptState",
    "append_line",
    "compact",
    "load_existing",
    "read_prompts",
]


@dataclass(frozen=True, slots=True)
class PromptItem:
    id: str
    prompt: str | None
    messages: tuple[Mapping[str, Any], ...] | None
    task: str | None = None
    reference: str | None = None

    def chat_messages(self) -> list[dict[str, Any]]:
        if self.messages is not None:
            return [dict(m) for m in self.messages]
        return [{"role": "user", "content": self.prompt or ""}]

    @property
    def question(self) -> str:
        """What a judge reads as the question: the prompt, or the conversation as ``role: content``."""
        if self.prompt is not None:
            return self.prompt
        msgs = self.messages or ()
        if len(msgs) == 1:
            return str(msgs[0].get("content", ""))
        return "\n\n".join(f"{m.get('role')}: {m.get('content')}" for m in msgs)


@dataclass(frozen=True, slots=True)
class Answer:
    text: str
    cost: float | None
    input_tokens: int | None
    output_tokens: int | None

    def to_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "cost": self.cost,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
        }

    @classmethod
    def from_json(cls, raw: Any) -> Answer | None:
        if not isinstance(raw, dict) or not isinstance(raw.get("text"), str):
            return None
        cost, itok, otok = raw.get("cost"), raw.get("input_tokens"), raw.get("output_tokens")
        return cls(
            raw["text"],
            float(cost) if isinstance(cost, int | float) else None,
            itok if isinstance(itok, int) else None,
            otok if isinstance(otok, int) else None,
        )


@dataclass
class PromptState:
    """The work on one prompt: what is scored, what was answered, what is missing and why."""

    item: PromptItem
    outcomes: dict[str, ModelOutcome] = field(default_factory=dict)
    answers: dict[str, Answer] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)
    touched: bool = False  # something new happened in this run

    def score(self, model: str, score: float) -> None:
        a = self.answers[model]
        self.outcomes[model] = ModelOutcome(score, a.cost, a.input_tokens, a.output_tokens)
        self.missing.pop(model, None)
        self.touched = True

    def fail(self, model: str, why: str) -> None:
        self.missing[model] = why
        self.touched = True

    def to_json(self) -> dict[str, Any]:
        it = self.item
        record = OutcomeRecord(it.id, self.outcomes, it.prompt, it.messages, it.task)
        out = record.to_json()
        if it.reference is not None:
            out["reference"] = it.reference
        out["answers"] = {m: a.to_json() for m, a in self.answers.items()}
        if self.missing:
            out["missing"] = dict(self.missing)
        return out


def _reference(obj: Mapping[str, Any], field_name: str | None) -> str | None:
    if field_name is None or obj.get(field_name) is None:
        return None
    ref = obj[field_name]
    return ref if isinstance(ref, str) else orjson.dumps(ref).decode()


def read_prompts(path: Path | str, reference_field: str | None = None) -> list[PromptItem]:
    """The prompt log (ids default to ``line-N``; duplicate ids are an error)."""
    p = Path(path)
    try:
        lines = p.read_bytes().splitlines()
    except OSError as exc:
        raise DatasetError(f"cannot read {p}: {exc.strerror or exc}") from None
    items: list[PromptItem] = []
    seen: set[str] = set()
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{p}:{lineno}"
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise DatasetError(f"{where}: invalid JSON: {exc}") from None
        if isinstance(obj, dict):
            obj.setdefault("id", f"line-{lineno}")
            obj.pop("outcomes", None)
        rec = parse_record(obj, where)
        if rec.id in seen:
            raise DatasetError(f"{where}: duplicate id {rec.id!r}")
        seen.add(rec.id)
        items.append(PromptItem(rec.id, rec.prompt, rec.messages, rec.task, _reference(obj, reference_field)))
    return items


def _parse_line(line: bytes) -> tuple[str, dict[str, Any]] | None:
    try:
        obj = orjson.loads(line)
        rec = parse_record(obj)
    except (orjson.JSONDecodeError, DatasetError):
        return None  # a line torn by a crash, or not ours: that prompt is simply redone
    return rec.id, obj


def _read_lines(path: Path) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    if path.exists():
        for line in path.read_bytes().splitlines():
            parsed = _parse_line(line) if line.strip() else None
            if parsed is not None:
                found[parsed[0]] = parsed[1]  # last line per id wins
    return found


def load_existing(path: Path | str) -> dict[str, tuple[dict[str, ModelOutcome], dict[str, Answer]]]:
    """Per prompt id of an earlier (possibly interrupted) run: its scored outcomes and stored answers."""
    out = {}
    for pid, obj in _read_lines(Path(path)).items():
        rec = parse_record(obj)
        raw_answers = obj.get("answers")
        answers = {}
        if isinstance(raw_answers, dict):
            for model, raw in raw_answers.items():
                a = Answer.from_json(raw)
                if a is not None:
                    answers[str(model)] = a
        out[pid] = (dict(rec.outcomes), answers)
    return out


def compact(path: Path | str, order: Sequence[str]) -> None:
    """Rewrite ``path`` with one line per id (the last one), in ``order`` (other ids after), atomically."""
    p = Path(path)
    if not p.exists():
        return
    lines = _read_lines(p)
    rank = {pid: i for i, pid in enumerate(order)}
    ids = sorted(lines, key=lambda pid: (rank.get(pid, len(rank)), pid))
    tmp = p.with_name(p.name + ".tmp")
    with tmp.open("wb") as fh:
        for pid in ids:
            fh.write(orjson.dumps(lines[pid]) + b"\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, p)


def append_line(fh: BinaryIO, state: PromptState) -> None:
    fh.write(orjson.dumps(state.to_json()) + b"\n")
    fh.flush()
