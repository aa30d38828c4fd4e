"""Text and CSV rendering of a ledger :class:`~switchman.ledger.queries.Report`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from switchman.ledger.queries import GroupStats, Percentiles, Report

COLUMNS = [
    "requests",
    "in_tok",
    "out_tok",
    "cost_usd",
    "baseline_usd",
    "saved_usd",
    "saved_%",
    "err_%",
    "fallback_%",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "ttft_p50",
    "ttft_p95",
    "ttft_p99",
    "quality",
]


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}"


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}"


def _cells(g: GroupStats) -> list[str]:
    return [
        f"{g.requests:,}",
        f"{g.input_tokens:,}",
        f"{g.output_tokens:,}",
        f"{g.cost_usd:.6f}",
        f"{g.baseline_cost_usd:.6f}",
        f"{g.savings_usd:.6f}",
        _pct(g.savings_pct),
        _pct(100 * g.error_rate),
        _pct(100 * g.fallback_rate),
        _ms(g.latency_ms.p50),
        _ms(g.latency_ms.p95),
        _ms(g.latency_ms.p99),
        _ms(g.ttft_ms.p50),
        _ms(g.ttft_ms.p95),
        _ms(g.ttft_ms.p99),
        "-" if g.quality is None else f"{g.quality:.3f}",
    ]


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    fmt = [f"{c:<{widths[0]}}" if i == 0 else f"{c:>{widths[i]}}" for i, c in enumerate(header)]
    lines = ["  ".join(fmt)]
    for r in rows:
        lines.append(
            "  ".join(r[0].ljust(widths[0]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(r))
        )
    return "\n".join(lines)


def _pcts(p: Percentiles) -> str:
    return f"p50 {_ms(p.p50)}   p95 {_ms(p.p95)}   p99 {_ms(p.p99)}"


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def render_text(rep: Report) -> str:
    t = rep.total
    out = [f"switchman report: {_when(rep.since)} → {_when(rep.until)}", ""]
    if not t.requests:
        out.append("no requests in this window")
        return "\n".join(out)
    saved = f"{t.savings_usd:.6f} USD ({_pct(t.savings_pct)} %)"
    out += [
        f"requests     {t.requests:,}   errors {100 * t.error_rate:.2f} %   fallbacks "
        f"{100 * t.fallback_rate:.2f} %   usage from upstream {100 * t.capture_rate:.1f} %",
        f"tokens       in {t.input_tokens:,}   out {t.output_tokens:,}   cached {t.cached_tokens:,}",
        f"cost         {t.cost_usd:.6f} USD   baseline {t.baseline_cost_usd:.6f} USD   saved {saved}",
        f"latency ms   {_pcts(t.latency_ms)}",
        f"ttft ms      {_pcts(t.ttft_ms)}",
        "",
        f"by {rep.by}:",
        _table([str(rep.by), *COLUMNS], [[g.key, *_cells(g)] for g in rep.groups]),
    ]
    if rep.mix:
        out += ["", "routing mix (router → served model):"]
        per_router: dict[str, int] = {}
        for r, _m, n in rep.mix:
            per_router[r] = per_router.get(r, 0) + n
        rows = [[r, m, f"{n:,}", f"{100 * n / per_router[r]:.1f} %"] for r, m, n in rep.mix]
        out.append(_table(["router", "model", "requests", "share"], rows))
    return "\n".join(out)


def render_csv(rep: Report, writer: Any) -> None:
    groups = [*rep.groups, rep.total]
    keys = list(rep.total.to_dict())
    writer.writerow([rep.by or "group", *keys[1:]])
    for g in groups:
        d = g.to_dict()
        writer.writerow(["" if d[k] is None else d[k] for k in keys])
