"""Tiny inline-SVG charts (lines and horizontal bars), rendered on the server."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape

PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4b5563", "#ca8a04")
W, H, PAD_L, PAD_R, PAD_T, PAD_B = 560, 200, 56, 12, 12, 28


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    points: Sequence[tuple[float, float]]  # (unix time, value)


def _fmt(v: float, unit: str) -> str:
    if unit == "$":
        return f"${v:.4g}"
    if unit == "%":
        return f"{v:.3g}%"
    return f"{v:.4g}{unit}"


def _legend(names: Sequence[str]) -> str:
    items = "".join(
        f'<span class="key"><i style="background:{PALETTE[i % len(PALETTE)]}"></i>{escape(n)}</span>'
        for i, n in enumerate(names)
    )
    return f'<div class="legend">{items}</div>'


def line_chart(chart_id: str, title: str, series: Sequence[Series], unit: str = "") -> str:
    """A line chart over time; an empty chart says so."""
    pts = [p for s in series for p in s.points]
    head = f'<figure class="chart" data-chart="{escape(chart_id)}"><figcaption>{escape(title)}</figcaption>'
    if not pts:
        return head + '<p class="empty">no data in this window</p></figure>'
    x0, x1 = min(p[0] for p in pts), max(p[0] for p in pts)
    y1 = max(p[1] for p in pts) or 1.0
    xs = (x1 - x0) or 1.0

    def px(x: float) -> float:
        return PAD_L + (x - x0) / xs * (W - PAD_L - PAD_R)

    def py(y: float) -> float:
        return H - PAD_B - y / y1 * (H - PAD_T - PAD_B)

    parts = [f'<svg viewBox="0 0 {W} {H}" role="img" aria-label="{escape(title)}">']
    for frac in (0.0, 0.5, 1.0):
        y = py(y1 * frac)
        parts.append(f'<line class="grid" x1="{PAD_L}" x2="{W - PAD_R}" y1="{y:.1f}" y2="{y:.1f}"/>')
        tick = _fmt(y1 * frac, unit)
        parts.append(f'<text class="axis" x="{PAD_L - 4}" y="{y + 4:.1f}" text-anchor="end">{tick}</text>')
    for x, anchor in ((x0, "start"), (x1, "end")) if x1 > x0 else ((x0, "start"),):
        label = datetime.fromtimestamp(x, UTC).strftime("%m-%d %H:%M")
        parts.append(f'<text class="axis" x="{px(x):.1f}" y="{H - 8}" text-anchor="{anchor}">{label}</text>')
    for i, s in enumerate(series):
        color = PALETTE[i % len(PALETTE)]
        coords = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in s.points)
        parts.append(
            f'<polyline class="series" data-series="{escape(s.name)}" fill="none" stroke="{color}" '
            f'stroke-width="2" points="{coords}"/>'
        )
        if len(s.points) == 1:
            x, y = s.points[0]
            parts.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{color}"/>')
    parts.append("</svg>")
    return head + "".join(parts) + _legend([s.name for s in series]) + "</figure>"


def bar_chart(chart_id: str, title: str, bars: Sequence[tuple[str, float, str]], unit: str = "") -> str:
    """Horizontal bars: (label, value, note shown after the value)."""
    head = f'<figure class="chart" data-chart="{escape(chart_id)}"><figcaption>{escape(title)}</figcaption>'
    if not bars:
        return head + '<p class="empty">no data in this window</p></figure>'
    row_h, label_w = 24, 170
    height = row_h * len(bars) + 8
    top = max(max(v for _, v, _ in bars), 1e-12)
    parts = [f'<svg viewBox="0 0 {W} {height}" role="img" aria-label="{escape(title)}">']
    for i, (label, value, note) in enumerate(bars):
        y = 4 + i * row_h
        width = value / top * (W - label_w - 150)
        color = PALETTE[i % len(PALETTE)]
        parts.append(
            f'<text class="axis" x="{label_w - 6}" y="{y + 15}" text-anchor="end">{escape(label)}</text>'
            f'<rect class="bar" data-label="{escape(label)}" data-value="{value!r}" x="{label_w}" y="{y}" '
            f'width="{max(width, 1):.1f}" height="{row_h - 6}" fill="{color}"/>'
            f'<text class="value" x="{label_w + width + 6:.1f}" y="{y + 15}">'
            f"{_fmt(value, unit)} {escape(note)}</text>"
        )
    parts.append("</svg>")
    return head + "".join(parts) + "</figure>"
