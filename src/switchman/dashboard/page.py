"""Render the dashboard page (HTML + inline SVG) from :class:`DashboardData`."""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from itertools import accumulate
from typing import Any

from switchman.dashboard.data import DashboardData
from switchman.dashboard.svg import Series, bar_chart, line_chart
from switchman.ledger.queries import GroupStats

STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:0;background:#f8fafc;color:#0f172a}
header{background:#0f172a;color:#fff;padding:12px 24px;display:flex;gap:24px;align-items:baseline}
header h1{font-size:18px;margin:0} header a{color:#93c5fd}
main{padding:16px 24px;max-width:1280px}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:12px;margin-bottom:16px}
.card{background:#fff;border:1px solid #e2e8f0;border-radius:8px;padding:10px 12px}
.card b{display:block;font-size:20px} .card span{color:#64748b;font-size:12px}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(560px,1fr));gap:12px}
.chart{background:#fff;border:1px solid #e2e8f0;border-radius:8px;margin:0;padding:8px}
figcaption{font-weight:600;margin-bottom:4px} svg{width:100%;height:auto}
.grid{stroke:#e2e8f0} .axis,.value{font-size:11px;fill:#475569}
.legend{font-size:12px;display:flex;gap:12px}
.key i{display:inline-block;width:10px;height:10px;margin-right:4px}
.empty{color:#94a3b8}
table{border-collapse:collapse;width:100%;background:#fff;font-size:12px;margin-top:16px}
th,td{border-bottom:1px solid #e2e8f0;padding:4px 6px;text-align:left;vertical-align:top}
td.num{text-align:right;font-variant-numeric:tabular-nums} .err{color:#b91c1c} .why{color:#475569}
"""

WINDOWS = ("1h", "6h", "24h", "7d", "30d")


def _t(ts: float, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    return datetime.fromtimestamp(ts, UTC).strftime(fmt)


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.0f} ms"


def _cards(t: GroupStats) -> str:
    pct = "-" if t.savings_pct is None else f"{t.savings_pct:.1f} %"
    cards = [
        ("requests", f"{t.requests:,}", "requests"),
        ("cost", f"${t.cost_usd:.4f}", "cost"),
        ("baseline", f"${t.baseline_cost_usd:.4f}", "baseline cost"),
        ("savings", f"${t.savings_usd:.4f}", f"saved ({pct})"),
        ("error-rate", f"{100 * t.error_rate:.2f} %", "errors"),
        ("fallback-rate", f"{100 * t.fallback_rate:.2f} %", "fallbacks"),
        ("p50", _ms(t.latency_ms.p50), "latency p50"),
        ("p95", _ms(t.latency_ms.p95), "latency p95"),
        ("p99", _ms(t.latency_ms.p99), "latency p99"),
        ("ttft-p50", _ms(t.ttft_ms.p50), "TTFT p50"),
        ("capture", f"{100 * t.capture_rate:.1f} %", "usage from upstream"),
    ]
    return (
        '<section class="cards">'
        + "".join(
            f'<div class="card" data-metric="{k}"><b>{escape(v)}</b><span>{escape(label)}</span></div>'
            for k, v, label in cards
        )
        + "</section>"
    )


def _charts(d: DashboardData) -> str:
    b = d.buckets
    xs = [x.start for x in b]
    cum_cost = list(accumulate(x.cost_usd for x in b))
    cum_base = list(accumulate(x.baseline_cost_usd for x in b))
    savings = line_chart(
        "savings",
        "Spend vs baseline (cumulative)",
        [
            Series("baseline", list(zip(xs, cum_base, strict=True))),
            Series("cost", list(zip(xs, cum_cost, strict=True))),
            Series("saved", [(x, bb - c) for x, bb, c in zip(xs, cum_base, cum_cost, strict=True)]),
        ],
        "$",
    )
    by_model = bar_chart(
        "cost-by-model",
        "Cost by model",
        [(g.key, g.cost_usd, f"· {g.requests:,} req") for g in d.report.groups],
        "$",
    )
    total = {r: 0 for r, _, _ in d.report.mix}
    for r, _, n in d.report.mix:
        total[r] += n
    mix = bar_chart(
        "routing-mix",
        "Routing mix (router → served model)",
        [(f"{r} → {m}", 100 * n / total[r], f"· {n:,} req") for r, m, n in d.report.mix],
        "%",
    )
    latency = line_chart(
        "latency",
        "Latency percentiles",
        [
            Series(name, [(x.start, v) for x in b if (v := getattr(x.latency_ms, name)) is not None])
            for name in ("p50", "p95", "p99")
        ],
        " ms",
    )
    rates = line_chart(
        "errors",
        "Error and fallback rates",
        [
            Series("errors", [(x.start, 100 * x.errors / x.requests) for x in b]),
            Series("fallbacks", [(x.start, 100 * x.fallbacks / x.requests) for x in b]),
        ],
        "%",
    )
    return f'<section class="charts">{savings}{by_model}{mix}{latency}{rates}</section>'


def _why(row: dict[str, Any]) -> str:
    chain = row.get("chain") or []
    steps = []
    for c in chain:
        q = c.get("q")
        qs = "" if q is None else f" q={q:.2f}"
        steps.append(f"{c.get('model')}{qs} ({c.get('reason', '')})")
    return " → ".join(steps)


def _table(rows: list[dict[str, Any]]) -> str:
    head = (
        "<tr><th>time (UTC)</th><th>request</th><th>asked</th><th>served</th><th>status</th>"
        "<th>tokens in/out</th><th>cost</th><th>baseline</th><th>latency</th><th>decision</th></tr>"
    )
    body = []
    for r in rows:
        status = (
            f'<span class="err">{r["status"]} {escape(r["error"] or "")}</span>'
            if r["status"] >= 400
            else "200"
        )
        est = " (est.)" if r["usage_estimated"] else ""
        fb = " ↪ fallback" if r["fallback"] else ""
        body.append(
            f'<tr class="call" data-id="{escape(r["id"])}">'
            f"<td>{_t(r['ts'])}</td><td>{escape(r['id'])}</td>"
            f"<td>{escape(r['requested_model'])}</td><td>{escape(r['model'] or '-')}{fb}</td>"
            f"<td>{status}</td>"
            f'<td class="num">{r["input_tokens"]}/{r["output_tokens"]}{est}</td>'
            f'<td class="num">${r["cost_usd"]:.6f}</td><td class="num">${r["baseline_cost_usd"]:.6f}</td>'
            f'<td class="num">{r["latency_ms"]:.0f} ms</td>'
            f'<td class="why">{escape(r["route"] or "")}<br>{escape(_why(r))}</td></tr>'
        )
    return f'<h2>Recent requests</h2><table id="recent">{head}{"".join(body)}</table>'


def _alerts(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return ""
    items = "".join(
        f"<li>{_t(a['ts'])} <b>{escape(a['rule'])}</b>: {escape(a['message'])}</li>" for a in rows
    )
    return f'<h2>Alerts</h2><ul id="alerts">{items}</ul>'


def render(d: DashboardData, window: str) -> str:
    links = " ".join(f'<a href="?since={w}">{w}</a>' if w != window else f"<b>{w}</b>" for w in WINDOWS)
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>switchman dashboard</title><style>{STYLE}</style></head><body>"
        f"<header><h1>switchman</h1><span>{_t(d.since, '%Y-%m-%d %H:%M')} → "
        f"{_t(d.until, '%Y-%m-%d %H:%M')} UTC</span><nav>{links}</nav></header><main>"
        f"{_cards(d.report.total)}{_charts(d)}{_alerts(d.alerts)}{_table(d.recent)}</main></body></html>"
    )
