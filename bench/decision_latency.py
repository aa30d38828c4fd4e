"""Decision latency: analysis + embedding + policy for one request, p50/p99 per embedder.

Prompts: 500 LLMRouter test questions and 500 RouterArena questions read from ../shared/data (read
only; nothing is copied into the repo), or synthetic prompts with --synthetic. The router is the
starter config's ``switchman/auto`` (rules, two semantic routes, threshold scoring over three models)
with its embedder swapped per run. Single thread, after a warm-up pass over the first 50 prompts (so
most prompts are seen for the first time: the tokenizer's cache of words is still filling). Wall-clock
percentiles include time the process waited for a CPU; the CPU columns (thread CPU time) do not. The
analysis column includes the difficulty (with its code check), which the router's scoring reads.

    .venv/bin/python bench/decision_latency.py [--embedders hashing,wordllama,minilm] [--n 1000] [--json]

``minilm@N`` names a MiniLM with an N-token window (e.g. ``--embedders minilm@16,minilm@32,minilm``); the
table shows which MiniLM backend ran (``onnx-int8`` or ``numpy``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import time
from pathlib import Path
from typing import Any

import orjson

from switchman.catalog import Catalog, NoStats
from switchman.config.load import load_config
from switchman.routing.analyze import analyze
from switchman.routing.embed import embed_one, get_embedder
from switchman.routing.policy import build_policies
from switchman.routing.request import RequestInfo
from switchman.routing.tokens import get_token_counter
from switchman.wire import parse_chat_request

#: Prompts on which analysis and embedding are also timed separately.
BREAKDOWN = 200
DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def dataset_prompts(n: int) -> list[str]:
    out: list[str] = []
    llmrouter = DATA / "llmrouter-9models" / "data" / "dcrouter_preprocessed" / "test.json"
    arena = DATA / "routerarena-2models" / "cached_results" / "gemini-2.0-flash-001.jsonl"
    if llmrouter.exists():
        out += [row["question"] for row in json.loads(llmrouter.read_text())][: n // 2]
    if arena.exists():
        with arena.open() as fh:
            for line in fh:
                if len(out) >= n:
                    break
                out.append(json.loads(line)["question"])
    return out


def synthetic_prompts(n: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    subjects = [
        "a Python function",
        "this SQL query",
        "our Kubernetes setup",
        "the French sentence",
        "a REST API",
    ]
    asks = [
        "Is {s} correct?",
        "Explain {s} step by step and discuss the trade-offs.",
        "Translate {s} into German.",
        "Propose a migration plan for {s} with phases, risks and rollback.",
        "Summarise {s} in one line.",
    ]
    out = []
    for _ in range(n):
        text = rng.choice(asks).format(s=rng.choice(subjects))
        out.append(" ".join([text] * rng.choice([1, 1, 2, 5, 20])))
    return out


def request_of(prompt: str) -> RequestInfo:
    raw = orjson.dumps({"model": "switchman/auto", "messages": [{"role": "user", "content": prompt}]})
    return RequestInfo(
        request=parse_chat_request(raw, max_bytes=len(raw) + 1), requested_model="switchman/auto"
    )


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def run(embedder: str, prompts: list[str]) -> dict[str, Any]:
    base = load_config(None, env={})
    routers = dict(base.routers)
    routers["switchman/auto"] = routers["switchman/auto"].model_copy(update={"embedder": embedder})
    config = base.model_copy(update={"routers": routers})
    t0 = time.perf_counter()
    policy = build_policies(config)["switchman/auto"]
    build_s = time.perf_counter() - t0
    catalog, stats = Catalog.from_config(config), NoStats()
    infos = [request_of(p) for p in prompts]
    counter, emb = get_token_counter(), get_embedder(embedder)
    for info in infos[:50]:  # warm-up
        policy.decide(info, catalog, stats)
    total, cpu, analysis, embedding = [], [], [], []
    models: dict[str, int] = {}
    for info in infos:
        c, t = time.thread_time(), time.perf_counter()
        d = policy.decide(info, catalog, stats)
        total.append((time.perf_counter() - t) * 1000)
        cpu.append((time.thread_time() - c) * 1000)
        models[d.chain[0].model] = models.get(d.chain[0].model, 0) + 1
    for info in infos[:BREAKDOWN]:  # the parts, on a subset (MiniLM is slow)
        t = time.perf_counter()
        a = analyze(info, counter, exact_from=catalog.smallest_context // 2)  # as the policy does
        a.difficulty  # noqa: B018 - the text features switchman/auto's scoring reads (computed lazily)
        analysis.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        embed_one(emb, a.text)
        embedding.append((time.perf_counter() - t) * 1000)
    return {
        "embedder": emb.model_id + (f" [{backend}]" if (backend := getattr(emb, "backend", None)) else ""),
        "n": len(infos),
        "build_s": round(build_s, 3),
        "p50_ms": round(pct(total, 50), 3),
        "p99_ms": round(pct(total, 99), 3),
        "mean_ms": round(statistics.fmean(total), 3),
        "max_ms": round(max(total), 3),
        "cpu_p50_ms": round(pct(cpu, 50), 3),
        "cpu_p99_ms": round(pct(cpu, 99), 3),
        "analysis_p50_ms": round(pct(analysis, 50), 3),
        "analysis_p99_ms": round(pct(analysis, 99), 3),
        "embed_p50_ms": round(pct(embedding, 50), 3),
        "embed_p99_ms": round(pct(embedding, 99), 3),
        "primary": dict(sorted(models.items())),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--embedders", default="hashing,wordllama,minilm")
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--synthetic", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    prompts = synthetic_prompts(args.n) if args.synthetic else dataset_prompts(args.n)
    if len(prompts) < args.n:
        prompts += synthetic_prompts(args.n - len(prompts))
    chars = [float(len(p)) for p in prompts]
    load = os.getloadavg()[0]
    results = [run(name, prompts) for name in args.embedders.split(",")]
    if args.json:
        print(json.dumps({"prompts": len(prompts), "results": results}, indent=2))
        return
    print(
        f"# {len(prompts)} prompts (chars p50 {pct(chars, 50):.0f}, p99 {pct(chars, 99):.0f}), "
        f"python {platform.python_version()}, {platform.machine()}"
    )
    blas = os.environ.get("OPENBLAS_NUM_THREADS", "unset")
    print(f"# load average before: {load:.2f} on {os.cpu_count()} CPUs; OPENBLAS_NUM_THREADS={blas}")
    print(
        "| embedder | p50 ms | p99 ms | mean ms | CPU p50/p99 ms | analysis p50/p99 ms* | embed p50/p99 ms* "
        "| primary model |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        primary = ", ".join(f"{k} {v}" for k, v in r["primary"].items())
        print(
            f"| {r['embedder']} | {r['p50_ms']} | {r['p99_ms']} | {r['mean_ms']} | "
            f"{r['cpu_p50_ms']} / {r['cpu_p99_ms']} | "
            f"{r['analysis_p50_ms']} / {r['analysis_p99_ms']} | "
            f"{r['embed_p50_ms']} / {r['embed_p99_ms']} | {primary} |"
        )
    print(f"\n\\* on the first {BREAKDOWN} prompts")


if __name__ == "__main__":
    main()
