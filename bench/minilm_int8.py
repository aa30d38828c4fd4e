"""MiniLM int8 (ONNX Runtime) against float32 (numpy), and embedding cost per token window.

* Agreement: cosine between the int8 and the float32 embedding of the same text, on real prompts (the
  decision-latency prompts: LLMRouter test + RouterArena questions from ../shared/data, cut as the gateway
  cuts them), per window.
* Cost: one ``embed_one`` of a text that fills the window (the worst case of that window, what a long
  prompt costs), thread CPU time and wall clock, after a warm-up; one thread.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python bench/minilm_int8.py [--n 300] [--windows 16,24,32,64,128,256]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from decision_latency import dataset_prompts, pct

from switchman.routing.analyze import embed_text
from switchman.routing.embed import MiniLMEmbedder, embed_one


def agreement(window: int, prompts: list[str]) -> tuple[float, float, float]:
    int8 = MiniLMEmbedder(max_tokens=window, backend="onnx")
    fp32 = MiniLMEmbedder(max_tokens=window, backend="numpy")
    cosine = (int8.embed(prompts) * fp32.embed(prompts)).sum(axis=1)
    return float(cosine.mean()), float(np.percentile(cosine, 1)), float(cosine.min())


def cost(window: int, backend: str, rounds: int) -> tuple[float, float, float, float]:
    """CPU min / p50 / p99 and wall p50 (ms) of one ``embed_one`` of a text that fills the window, after
    a warm-up. The minimum is the cost without interference; on a shared machine the median is not."""
    emb = MiniLMEmbedder(max_tokens=window, backend=backend)
    text = "the quick brown fox jumps over the lazy dog " * (window // 4 + 4)  # > window tokens
    for _ in range(10):
        embed_one(emb, text)
    cpu, wall = [], []
    for _ in range(rounds):
        c, t = time.thread_time(), time.perf_counter()
        embed_one(emb, text)
        wall.append((time.perf_counter() - t) * 1000)
        cpu.append((time.thread_time() - c) * 1000)
    return min(cpu), pct(cpu, 50), pct(cpu, 99), pct(wall, 50)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=300, help="real prompts compared")
    ap.add_argument("--windows", default="16,24,32,64,128,256")
    args = ap.parse_args()
    prompts = [embed_text(p) for p in dataset_prompts(1000)[:: max(1, 1000 // args.n)][: args.n]]
    print(f"# {len(prompts)} prompts; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    windows = [int(w) for w in args.windows.split(",")]
    int8 = {w: cost(w, "onnx", rounds=200) for w in windows}
    fp32 = {w: cost(w, "numpy", rounds=20) for w in windows}
    print(
        "| window | int8 vs fp32 cosine mean / p1 / min | int8 CPU min / p50 / p99 ms | int8 wall p50 ms "
        "| numpy CPU p50 ms |"
    )
    print("|---|---|---|---|---|")
    for w in windows:
        mean, p1, low = agreement(w, prompts)
        lo, c50, c99, w50 = int8[w]
        print(
            f"| {w} | {mean:.4f} / {p1:.4f} / {low:.4f} | {lo:.2f} / {c50:.2f} / {c99:.2f} | {w50:.2f} "
            f"| {fp32[w][1]:.2f} |"
        )


if __name__ == "__main__":
    main()
