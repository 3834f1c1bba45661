"""Charts as inline SVG, drawn on the server: no script, nothing to load (the CSP allows none).

`line_chart` takes one series per shop of (time, value) points and draws them on a shared time axis,
with a y axis from 0 to a round maximum, a legend, and a <title> on every point for hovering.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from markupsafe import Markup, escape

# Colour-blind-safe (Okabe–Ito).
PALETTE = ("#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#f0e442", "#000000")
_LEFT, _RIGHT, _TOP, _BOTTOM = 56, 12, 28, 40

Series = Mapping[str, Sequence[tuple[datetime, float]]]


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 × 10^k at or above `value` (1 for nothing)."""
    if value <= 0:
        return 1.0
    base = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * base >= value:
            return float(step * base)
    return float(10 * base)


def fill_minutes(points: Sequence[tuple[datetime, float]], start: datetime, end: datetime) -> list[tuple[datetime, float]]:
    """Every minute from `start` to `end`, 0 where `points` has none (a count per minute drops to 0)."""
    have = {t.replace(second=0, microsecond=0): v for t, v in points}
    t = start.replace(second=0, microsecond=0)
    out = []
    while t <= end:
        out.append((t, have.get(t, 0.0)))
        t += timedelta(minutes=1)
    return out


def _label(v: float) -> str:
    return f"{v:g}" if v < 1000 else f"{v / 1000:g}k"


def line_chart(title: str, series: Series, *, start: datetime, end: datetime, unit: str,
               width: int = 720, height: int = 220, time_format: str = "%H:%M",
               empty: str = "nothing in this window") -> Markup:
    w, h = width - _LEFT - _RIGHT, height - _TOP - _BOTTOM
    span = max((end - start).total_seconds(), 1.0)
    top = nice_ceiling(max((v for pts in series.values() for _, v in pts), default=0.0))

    def x(t: datetime) -> float:
        return _LEFT + w * min(max((t - start).total_seconds() / span, 0.0), 1.0)

    def y(v: float) -> float:
        return _TOP + h - h * v / top

    out = [f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
           f'xmlns="http://www.w3.org/2000/svg" aria-label="{escape(title)}">',
           f"<title>{escape(title)}</title>",
           f'<text x="{_LEFT}" y="16" class="chart-title">{escape(title)}</text>']
    for i in range(5):
        v = top * i / 4
        yy = y(v)
        out.append(f'<line x1="{_LEFT}" x2="{_LEFT + w}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{_LEFT - 6}" y="{yy + 4:.1f}" text-anchor="end" class="chart-tick">{_label(v)}</text>')
    for i in range(5):
        t = start + timedelta(seconds=span * i / 4)
        anchor = "start" if i == 0 else "end" if i == 4 else "middle"     # the ends stay inside the frame
        out.append(f'<text x="{x(t):.1f}" y="{_TOP + h + 16}" text-anchor="{anchor}" class="chart-tick">'
                   f"{escape(t.strftime(time_format))}</text>")
    # The unit ends where the ticks end, left of the plot, so it never runs into the title.
    out.append(f'<text x="{_LEFT - 6}" y="{_TOP - 8}" text-anchor="end" class="chart-tick">{escape(unit)}</text>')
    drawn = 0
    for n, (name, pts) in enumerate(sorted(series.items())):
        colour = PALETTE[n % len(PALETTE)]
        pts = sorted(pts)
        if not pts:
            continue
        drawn += 1
        coords = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in pts)
        out.append(f'<polyline class="series" data-series="{escape(name)}" fill="none" stroke="{colour}" '
                   f'stroke-width="2" points="{coords}"/>')
        if len(pts) <= 120:
            for t, v in pts:
                out.append(f'<circle cx="{x(t):.1f}" cy="{y(v):.1f}" r="2.5" fill="{colour}">'
                           f"<title>{escape(name)} {escape(t.strftime('%Y-%m-%d %H:%M'))}Z: {v:g} {escape(unit)}</title>"
                           "</circle>")
        lx = _LEFT + (n % 3) * (w // 3)
        ly = height - 6 - 14 * (n // 3)
        out.append(f'<rect x="{lx}" y="{ly - 9}" width="10" height="10" fill="{colour}"/>'
                   f'<text x="{lx + 14}" y="{ly}" class="chart-legend">{escape(name)}</text>')
    if not drawn:
        out.append(f'<text x="{_LEFT + w / 2:.0f}" y="{_TOP + h / 2:.0f}" text-anchor="middle" '
                   f'class="chart-empty">{escape(empty)}</text>')
    out.append("</svg>")
    return Markup("".join(out))
