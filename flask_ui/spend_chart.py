"""An hourly spend chart as inline SVG, built on the server: no script, and nothing the page's
Content-Security-Policy refuses (shapes and text with classes; colours come from admin.css)."""

from __future__ import annotations

import time
from collections.abc import Sequence

from markupsafe import Markup, escape

from flask_ui.render import cost

WIDTH, HEIGHT = 720, 120
LEFT, BOTTOM, TOP = 60, 18, 8


def _short(usd: float) -> str:
    """A dollar figure for an axis: two significant digits, at most."""
    return f"${usd:.2f}" if usd >= 0.1 else f"${usd:.2g}" if usd >= 0.0001 else "<$0.0001"


def _local(ts: float) -> time.struct_time | None:
    try:
        return time.localtime(ts)
    except (OverflowError, OSError, ValueError):
        return None


def bar_chart(hourly: Sequence[float], since: float, label: str) -> Markup:
    """Dollars per hour as bars, one per hour from ``since``; days marked at local midnight; each
    bar says its hour and amount on hover (an SVG <title>)."""
    n = max(1, len(hourly))
    top = max(hourly, default=0.0) or 1.0
    plot_w, plot_h = WIDTH - LEFT, HEIGHT - BOTTOM - TOP
    step = plot_w / n
    parts = [(f'<svg class="spend-chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
              f'aria-label="{escape(label)}: dollars per hour">'),
             f'<line class="axis" x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH}" y2="{TOP + plot_h}"/>',
             f'<line class="grid" x1="{LEFT}" y1="{TOP}" x2="{WIDTH}" y2="{TOP}"/>',
             f'<text class="tick" x="{LEFT - 4}" y="{TOP + 4}" text-anchor="end">{escape(_short(top))}/h</text>',
             f'<text class="tick" x="{LEFT - 4}" y="{TOP + plot_h}" text-anchor="end">$0</text>']
    for i in range(n):
        at = _local(since + i * 3600)
        x = LEFT + i * step
        if at is not None and at.tm_hour == 0 and i > 0:
            parts.append(f'<line class="day" x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{TOP + plot_h}"/>')
        if at is not None and at.tm_hour == 0 and n - i >= 12:  # room for the label
            parts.append(f'<text class="tick" x="{x + 2:.1f}" y="{HEIGHT - 4}">{time.strftime("%a %d", at)}</text>')
        value = hourly[i] if i < len(hourly) else 0.0
        if value <= 0:
            continue
        h = max(1.0, plot_h * value / top)
        when = time.strftime("%a %H:00", at) if at is not None else "?"
        parts.append(f'<rect class="bar" x="{x:.1f}" y="{TOP + plot_h - h:.1f}" width="{max(1.0, step - 1):.1f}" '
                     f'height="{h:.1f}"><title>{escape(when)}: {escape(cost(value))}</title></rect>')
    parts.append("</svg>")
    return Markup("".join(parts))
