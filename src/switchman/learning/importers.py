"""Importers from public router-benchmark formats into the outcomes format.

``routellm``    RouteLLM's ``evals/mmlu`` layout: ``responses/mmlu_<subject>.csv`` (``prompt`` + one boolean
                column per model) and optional ``contaminated_prompts.jsonl`` (its ``eval_prompt`` rows are
                dropped, as RouteLLM's benchmark does). SRC is that directory or one CSV file.
``routerbench`` RouterBench's wide table as CSV or JSONL: ``sample_id``, ``prompt``, ``<model>`` (score) and
                ``<model>|total_cost`` columns; ``eval_name`` (if present) becomes the task.
``llmrouter``   LLMRouter's ``dcrouter_preprocessed/<split>.json`` (``[{question, scores}]``). Tasks come from
                ``example_data/query_data/default_query_*.jsonl`` and prices from
                ``example_data/llm_candidates/default_llm.json`` when they are found under SRC; costs are
                then estimated (prompt tokens × input price + ``output_tokens`` × output price).
``routerarena`` RouterArena's ``cached_results/<model>.jsonl`` (joined on ``global_index``) with exact token
                usage; costs from ``evaluation_result.inference_cost`` or ``model_cost/cost.json`` prices.

Every importer is a function ``(src: Path, **options) -> Iterator[OutcomeRecord]``.
"""

from __future__ import annotations

import ast
import csv
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson

from switchman.errors import DatasetError
from switchman.learning.outcomes import ModelOutcome, OutcomeRecord, estimate_tokens

__all__ = ["IMPORTERS", "import_dataset"]

Importer = Callable[..., Iterator[OutcomeRecord]]
_TRUE = {"true", "1", "1.0", "yes"}


def _read_json(path: Path) -> Any:
    try:
        return orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise DatasetError(f"cannot read {path}: {exc}") from exc


def _read_jsonl(path: Path) -> Iterator[Any]:
    try:
        with path.open("rb") as fh:
            for line in fh:
                if line.strip():
                    yield orjson.loads(line)
    except (OSError, orjson.JSONDecodeError) as exc:
        raise DatasetError(f"cannot read {path}: {exc}") from exc


def _csv_rows(path: Path) -> Iterator[dict[str, str]]:
    csv.field_size_limit(sys.maxsize)
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            yield from csv.DictReader(fh)
    except (OSError, csv.Error, UnicodeDecodeError) as exc:
        raise DatasetError(f"cannot read {path}: {exc}") from exc


def _score(value: Any, where: str) -> float:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | {"false", "0", "0.0", "no"}:
        return 1.0 if value.strip().lower() in _TRUE else 0.0
    try:
        return min(1.0, max(0.0, float(value)))
    except (TypeError, ValueError) as exc:
        raise DatasetError(f"{where}: score {value!r} is not a number or boolean") from exc


# --- RouteLLM --------------------------------------------------------------------------------------


def import_routellm(src: Path, *, decontaminate: bool = True) -> Iterator[OutcomeRecord]:
    files = [src] if src.is_file() else sorted((src / "responses").glob("*.csv")) or sorted(src.glob("*.csv"))
    if not files:
        raise DatasetError(f"{src}: no RouteLLM response CSVs found")
    contaminated: set[str] = set()
    cfile = (src if src.is_dir() else src.parent.parent) / "contaminated_prompts.jsonl"
    if decontaminate and cfile.exists():
        contaminated = {str(row["eval_prompt"]) for row in _read_jsonl(cfile)}
    for f in files:
        task = f.stem.removeprefix("mmlu_")
        for i, row in enumerate(_csv_rows(f)):
            prompt = row.pop("prompt", None)
            if prompt is None:
                raise DatasetError(f"{f}: no 'prompt' column")
            if prompt in contaminated:
                continue
            outcomes = {m: ModelOutcome(_score(v, f"{f}:{i}")) for m, v in row.items() if m and v != ""}
            yield OutcomeRecord(id=f"{task}/{i}", prompt=prompt, task=task, outcomes=outcomes)


# --- RouterBench -----------------------------------------------------------------------------------


def _routerbench_prompt(raw: str) -> str:
    # RouterBench stores some prompts as the repr of a list of strings (multi-turn); join those.
    text = raw.strip()
    if text.startswith("[") and text.endswith("]"):
        try:
            parts = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return raw
        if isinstance(parts, list) and all(isinstance(p, str) for p in parts):
            return "\n\n".join(parts)
    return raw


def import_routerbench(src: Path) -> Iterator[OutcomeRecord]:
    if src.suffix in {".jsonl", ".json"}:
        rows: Iterator[dict[str, Any]] = _read_jsonl(src)
    elif src.suffix == ".csv":
        rows = iter(_csv_rows(src))
    else:
        raise DatasetError(
            f"{src}: RouterBench data must be .csv or .jsonl (export the .pkl with pandas first)"
        )
    for i, row in enumerate(rows):
        cost_cols = {c.removesuffix("|total_cost") for c in row if c.endswith("|total_cost")}
        if not cost_cols or "prompt" not in row:
            raise DatasetError(f"{src}:{i}: needs 'prompt' and '<model>|total_cost' columns")
        outcomes = {}
        for m in sorted(cost_cols):
            if row.get(m) in (None, "") or row.get(f"{m}|total_cost") in (None, ""):
                continue
            outcomes[m] = ModelOutcome(_score(row[m], f"{src}:{i}"), cost=float(row[f"{m}|total_cost"]))
        task = row.get("eval_name")
        yield OutcomeRecord(
            id=str(row.get("sample_id", i)),
            prompt=_routerbench_prompt(str(row["prompt"])),
            task=None if task in (None, "") else str(task),
            outcomes=outcomes,
        )


# --- LLMRouter -------------------------------------------------------------------------------------


def _find(src: Path, pattern: str) -> list[Path]:
    base = src if src.is_dir() else src.parent.parent
    return sorted(base.rglob(pattern))


def import_llmrouter(src: Path, *, split: str = "test", output_tokens: int = 256) -> Iterator[OutcomeRecord]:
    data_file = src if src.is_file() else next(iter(_find(src, f"dcrouter_preprocessed/{split}.json")), None)
    if data_file is None:
        raise DatasetError(f"{src}: no dcrouter_preprocessed/{split}.json found")
    rows = _read_json(data_file)
    if not isinstance(rows, list):
        raise DatasetError(f"{data_file}: expected a JSON list")
    tasks: dict[str, str] = {}
    for qfile in _find(src, "default_query_*.jsonl"):
        tasks.update({str(q["query"]): str(q["task_name"]) for q in _read_jsonl(qfile)})
    prices: dict[str, tuple[float, float]] = {}
    for pfile in _find(src, "default_llm.json"):
        for name, info in _read_json(pfile).items():
            prices[name] = (float(info["input_price"]), float(info["output_price"]))
    for i, row in enumerate(rows):
        question = str(row["question"])
        itok = estimate_tokens(question)
        outcomes = {}
        for m, v in row["scores"].items():
            cost = None
            if m in prices:
                cost = (itok * prices[m][0] + output_tokens * prices[m][1]) / 1e6
            outcomes[m] = ModelOutcome(_score(v, f"{data_file}:{i}"), cost=cost)
        yield OutcomeRecord(id=f"{split}/{i}", prompt=question, task=tasks.get(question), outcomes=outcomes)


# --- RouterArena -----------------------------------------------------------------------------------

_INDEX_TASK = re.compile(r"_\d+$")


def _maybe_literal(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return ast.literal_eval(value)
        except (ValueError, SyntaxError):
            return None
    return value


def import_routerarena(src: Path) -> Iterator[OutcomeRecord]:
    files = sorted((src / "cached_results").glob("*.jsonl")) if src.is_dir() else [src]
    if not files:
        raise DatasetError(f"{src}: no cached_results/*.jsonl found")
    cost_file = (src if src.is_dir() else src.parent.parent) / "model_cost" / "cost.json"
    prices = _read_json(cost_file) if cost_file.exists() else {}
    prompts: dict[str, str] = {}
    by_index: dict[str, dict[str, ModelOutcome]] = {}
    for f in files:
        for row in _read_jsonl(f):
            idx, model = str(row["global_index"]), str(row.get("llm_selected") or f.stem)
            ev = _maybe_literal(row.get("evaluation_result")) or {}
            usage = _maybe_literal(row.get("token_usage")) or {}
            itok, otok = usage.get("input_tokens"), usage.get("output_tokens")
            cost = ev.get("inference_cost")
            if cost is None and model in prices and itok is not None and otok is not None:
                p = prices[model]
                cost = (
                    itok * p["input_token_price_per_million"] + otok * p["output_token_price_per_million"]
                ) / 1e6
            score = _score(ev.get("score", 0.0) or 0.0, f"{f}:{idx}")
            prompts.setdefault(idx, str(row["question"]))
            by_index.setdefault(idx, {})[model] = ModelOutcome(
                score,
                None if cost is None else float(cost),
                None if itok is None else int(itok),
                None if otok is None else int(otok),
            )
    for idx, outcomes in by_index.items():
        yield OutcomeRecord(id=idx, prompt=prompts[idx], task=_INDEX_TASK.sub("", idx), outcomes=outcomes)


IMPORTERS: dict[str, Importer] = {
    "llmrouter": import_llmrouter,
    "routellm": import_routellm,
    "routerarena": import_routerarena,
    "routerbench": import_routerbench,
}


def import_dataset(kind: str, src: Path | str, **options: Any) -> Iterator[OutcomeRecord]:
    """Records from ``src`` in the named public format (see the module docstring)."""
    try:
        importer = IMPORTERS[kind]
    except KeyError:
        raise DatasetError(f"unknown format {kind!r} (known: {', '.join(sorted(IMPORTERS))})") from None
    path = Path(src)
    if not path.exists():
        raise DatasetError(f"{path} does not exist")
    return importer(path, **options)
