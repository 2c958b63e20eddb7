"""Line charts drawn with Pillow (already a dependency): panels stacked on one time axis.

Enough for the benchmarks' curves over time (bench/day.py): each panel has its own y axis from 0,
lines, dashed horizontal rules (a limit), and every panel shares shaded bands (opening hours) and
dashed vertical marks (an event).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

INK, GRID, BAND = "#222222", "#dddddd", "#fff3c4"
LEFT, RIGHT, TOP, GAP, BOTTOM = 96, 36, 84, 58, 56


@dataclass(frozen=True)
class Series:
    label: str
    points: Sequence[tuple[float, float]]  # (x, y)
    colour: str


@dataclass(frozen=True)
class Panel:
    title: str
    series: Sequence[Series]
    rules: Sequence[tuple[float, str]] = ()  # (y, label): a dashed horizontal line
    unit: str = ""
    y_max: float | None = None  # None: from the data and the rules


@dataclass(frozen=True)
class Chart:
    title: str
    subtitle: str
    panels: Sequence[Panel]
    x_range: tuple[float, float]
    x_ticks: Sequence[tuple[float, str]]
    bands: Sequence[tuple[float, float, str]] = ()  # (x0, x1, label), shaded in every panel
    marks: Sequence[tuple[float, str, str]] = field(default_factory=tuple)  # (x, label, colour)
    size: tuple[int, int] = (1400, 1000)


def nice_max(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 times a power of ten at or above ``value``."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    return next(step * power for step in (1, 2, 2.5, 5, 10) if step * power >= value)


def ticks(y_max: float) -> list[tuple[float, str]]:
    """Grid lines from 0 to ``y_max`` at a round step (a fifth or a quarter of it), labelled."""
    for parts in (5, 4):
        step = y_max / parts
        power = math.floor(math.log10(step))
        mantissa = step / 10**power
        if any(math.isclose(mantissa, m, rel_tol=1e-6) for m in (1, 2, 2.5, 5, 10)):
            break
    digits = max(0, -power + (1 if math.isclose(mantissa, 2.5, rel_tol=1e-6) else 0))
    return [(step * k, f"{step * k:,.{digits}f}") for k in range(parts + 1)]


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _dashed(draw: ImageDraw.ImageDraw, start: tuple[float, float], end: tuple[float, float], colour: str,
            width: int = 2, dash: float = 9.0) -> None:
    (x0, y0), (x1, y1) = start, end
    length = math.hypot(x1 - x0, y1 - y0)
    steps = max(1, int(length // dash))
    for i in range(0, steps, 2):
        a, b = i / steps, min(1.0, (i + 1) / steps)
        draw.line([(x0 + (x1 - x0) * a, y0 + (y1 - y0) * a), (x0 + (x1 - x0) * b, y0 + (y1 - y0) * b)],
                  fill=colour, width=width)


def draw(chart: Chart, path: Path) -> None:
    """Draw ``chart`` into the PNG file ``path``."""
    width, height = chart.size
    image = Image.new("RGB", chart.size, "white")
    pen = ImageDraw.Draw(image)
    title, small, tiny = _font(26), _font(17), _font(15)
    pen.text((LEFT, 14), chart.title, font=title, fill=INK)
    pen.text((LEFT, 48), chart.subtitle, font=tiny, fill="#555555")
    x0, x1 = chart.x_range
    plot_w = width - LEFT - RIGHT
    panel_h = (height - TOP - BOTTOM - GAP * (len(chart.panels) - 1)) / len(chart.panels)

    def px(x: float) -> float:
        return LEFT + (x - x0) / (x1 - x0) * plot_w

    for index, panel in enumerate(chart.panels):
        top = TOP + index * (panel_h + GAP) + 22
        bottom = TOP + index * (panel_h + GAP) + panel_h
        values = [y for s in panel.series for _, y in s.points] + [y for y, _ in panel.rules]
        y_max = panel.y_max or nice_max(max(values, default=1.0) * 1.08)

        def py(y: float, top: float = top, bottom: float = bottom, y_max: float = y_max) -> float:
            return bottom - y / y_max * (bottom - top)

        pen.text((LEFT, top - 24), panel.title, font=small, fill=INK)
        for bx0, bx1, label in chart.bands:
            pen.rectangle([px(bx0), top, px(bx1), bottom], fill=BAND)
            if index == 0:
                pen.text((px(bx0) + 6, top + 4), label, font=tiny, fill="#8a6d00")
        for y, label in ticks(y_max):
            pen.line([(LEFT, py(y)), (width - RIGHT, py(y))], fill=GRID, width=1)
            pen.text((LEFT - 10, py(y)), f"{label}{panel.unit}", font=tiny, fill=INK, anchor="rm")
        for x, _ in chart.x_ticks:
            pen.line([(px(x), top), (px(x), bottom)], fill=GRID, width=1)
        for x, label, colour in chart.marks:
            _dashed(pen, (px(x), top), (px(x), bottom), colour)
            if index == 0:
                pen.text((px(x) + 6, top + 22), label, font=tiny, fill=colour)
        for y, label in panel.rules:
            _dashed(pen, (LEFT, py(y)), (width - RIGHT, py(y)), "#c0392b")
            pen.text((width - RIGHT - 6, py(y) - 4), label, font=tiny, fill="#c0392b", anchor="rb")
        for series in panel.series:
            points = [(px(min(max(x, x0), x1)), py(y)) for x, y in series.points]
            if len(points) > 1:
                pen.line(points, fill=series.colour, width=3, joint="curve")
        legend_x = LEFT + 8
        for series in panel.series if len(panel.series) > 1 else ():
            pen.rectangle([legend_x, bottom - 22, legend_x + 14, bottom - 10], fill=series.colour)
            pen.text((legend_x + 20, bottom - 16), series.label, font=tiny, fill=INK, anchor="lm")
            legend_x += 30 + int(pen.textlength(series.label, font=tiny))
        pen.rectangle([LEFT, top, width - RIGHT, bottom], outline=INK, width=1)
        for x, label in chart.x_ticks:
            pen.text((px(x), bottom + 6), label, font=tiny, fill=INK, anchor="mt")
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, optimize=True)
