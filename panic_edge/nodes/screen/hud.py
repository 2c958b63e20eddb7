"""``render_hud(surface, rect, view)``: the insight HUD, drawn from a HudView. No I/O, no clock.

Panels: the run's path in 2-D (the prompt a star, newest points bright, older fading, segments
coloured by the models they went through); a drift gauge with its sparkline and the last step;
which models move meaning most; a recurrence strip (how close the newest output came to each
earlier one) with a STUCK or LOOP badge; the H0/H1 barcode with a legend in plain words.
Wide rectangles put the path on the left; narrow ones (a panel beside a grid) stack everything.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pygame

from panic_edge.core.insight import Bar
from panic_edge.nodes.hud import HudState, HudView
from panic_edge.nodes.screen.media import MediaCache
from panic_edge.nodes.screen.render import BANNER, BG, DIM, INK
from panic_edge.nodes.screen.text import draw_text, font
from panic_edge.nodes.view import View

PANEL = (22, 22, 30)
FAINT = (52, 52, 66)
STAR = (255, 236, 160)
H0 = (110, 200, 255)
H1 = (255, 120, 200)
STUCK = (255, 170, 40)
LOOP = (230, 100, 255)
UNRELATED = math.sqrt(2)  # the distance between two unrelated unit vectors


def split(rect: pygame.Rect) -> tuple[pygame.Rect, pygame.Rect]:
    """A grid beside a HUD panel: the panel takes the right 38% (at least 420 px)."""
    panel_w = max(min(420, rect.width // 2), int(rect.width * 0.38))
    return (pygame.Rect(rect.x, rect.y, rect.width - panel_w, rect.height),
            pygame.Rect(rect.right - panel_w, rect.y, panel_w, rect.height))


def render_with_hud(surface: pygame.Surface, view: View, hud: HudState, media: MediaCache, grid: bool) -> None:
    """``display --hud``: the HUD on the whole screen; with ``--grid``, the grid and a HUD panel."""
    hud_view = hud.view(view.now, view.network_name, view.offline_reason, view.running)
    if not grid:
        render_hud(surface, surface.get_rect(), hud_view)
        return
    from panic_edge.nodes.screen.render import render

    cells, panel = split(surface.get_rect())
    render(surface.subsurface(cells), view, media)
    render_hud(surface, panel, hud_view)


@dataclass(frozen=True)
class Layout:
    """Where ``render_hud`` puts each part in its rectangle: pure geometry, the same for any view.
    ``body`` is where the waiting note goes; ``path`` and the column's ``panels`` (drift, hops,
    recurrence, barcode) tile it once there is insight; ``banner`` covers the top when offline."""

    unit: int
    body: pygame.Rect
    path: pygame.Rect
    panels: tuple[tuple[str, pygame.Rect], ...]
    banner: pygame.Rect

    def panel(self, name: str) -> pygame.Rect:
        return dict(self.panels)[name]


COLUMN = (("drift", 0.27), ("hops", 0.21), ("recurrence", 0.2), ("barcode", 0.32))  # shares of its height


def layout(rect: pygame.Rect) -> Layout:
    """Wide rectangles put the path on the left and the panels in a column beside it; narrow ones
    (a panel beside a grid) put the path on top and the panels below."""
    unit = max(9, min(rect.width, rect.height) // 34)
    pad = unit
    title_h = int(unit * 2.2)
    body = pygame.Rect(rect.x + pad, rect.y + title_h, rect.width - 2 * pad, rect.height - title_h - pad)
    if body.width >= 1.25 * body.height:
        side = min(body.height, int(body.width * 0.52))
        path = pygame.Rect(body.x, body.y, side, side)
        column = pygame.Rect(path.right + pad, body.y, body.right - path.right - pad, body.height)
    else:
        side = min(body.width, int(body.height * 0.46))
        path = pygame.Rect(body.x + (body.width - side) // 2, body.y, side, side)
        column = pygame.Rect(body.x, path.bottom + pad, body.width, body.bottom - path.bottom - pad)
    panels, y = [], column.y
    for name, share in COLUMN:
        h = int(column.height * share)
        panels.append((name, pygame.Rect(column.x, y, column.width, max(0, h - unit // 2))))
        y += h
    return Layout(unit, body, path, tuple(panels), pygame.Rect(rect.x, rect.y, rect.width, int(unit * 2.2)))


def render_hud(surface: pygame.Surface, rect: pygame.Rect, view: HudView) -> None:
    pygame.draw.rect(surface, BG, rect)
    parts = layout(rect)
    unit = pad = parts.unit
    _line(surface, "Where the meaning went", int(unit * 1.15), (rect.x + pad, rect.y + pad // 2), INK,
          rect.width - 2 * pad, "topleft", bold=True)
    sub = view.network_name + (f"  \u00b7  step #{view.insight.sequence}" if view.insight else "")
    _line(surface, sub, int(unit * 0.8), (rect.right - pad, rect.y + pad // 2 + unit // 4), DIM,
          rect.width // 2, "topright")
    if view.insight is None:
        _waiting(surface, parts.body, view, unit)
    else:
        _path(surface, parts.path, view, unit)
        draw = {"drift": _drift, "hops": _hops, "recurrence": _recurrence, "barcode": _barcode}
        for name, box in parts.panels:
            draw[name](surface, box, view, unit)
    if view.offline_reason:
        banner = parts.banner
        pygame.draw.rect(surface, BANNER, banner)
        _line(surface, "\u26a0  " + view.offline_reason, unit, banner.center, (255, 255, 255),
              rect.width - 2 * unit, "center", bold=True)


def _line(surface: pygame.Surface, text: str, size: int, pos: tuple[int, int], colour: tuple[int, int, int],
          room: int, anchor: str, bold: bool = False) -> pygame.Rect:
    """One line, shortened with an ellipsis to fit ``room`` pixels."""
    f = font(size, bold)
    while len(text) > 1 and f.size(text)[0] > room:
        text = text[:-2] + "\u2026"
    return draw_text(surface, text, size, pos, colour, bold, anchor)


def _fade(colour: tuple[int, int, int], amount: float) -> tuple[int, int, int]:
    """``colour`` mixed into the panel: 1.0 is the colour itself, 0.0 the background."""
    a = max(0.0, min(1.0, amount))

    def mix(i: int) -> int:
        return int(PANEL[i] + (colour[i] - PANEL[i]) * a)

    return mix(0), mix(1), mix(2)


def _waiting(surface: pygame.Surface, body: pygame.Rect, view: HudView, unit: int) -> None:
    pygame.draw.rect(surface, PANEL, body, border_radius=unit // 2)
    _line(surface, "waiting for the next output\u2026", int(unit * 1.2), (body.centerx, body.centery - unit), INK,
          body.width - 2 * unit, "midbottom")
    _line(surface, "each output is placed by its meaning; the path shows where the run has been",
          int(unit * 0.8), (body.centerx, body.centery), DIM, body.width - 2 * unit, "midtop")


# --- the path ---------------------------------------------------------------------------------


def _path(surface: pygame.Surface, area: pygame.Rect, view: HudView, unit: int) -> None:
    assert view.insight is not None
    pygame.draw.rect(surface, PANEL, area, border_radius=unit // 2)
    half = area.width / 2 - unit
    cx, cy = area.centerx, area.centery

    def at(x: float, y: float) -> tuple[int, int]:
        return (int(cx + max(-1.25, min(1.25, x)) / 1.25 * half), int(cy - max(-1.25, min(1.25, y)) / 1.25 * half))

    pygame.draw.line(surface, FAINT, (area.x + unit, cy), (area.right - unit, cy))
    pygame.draw.line(surface, FAINT, (cx, area.y + unit), (cx, area.bottom - unit))
    path = view.path
    n = len(path)
    width = max(2, unit // 5)
    prompt = view.insight.prompt_point
    if prompt is not None and path:
        _dotted(surface, _fade(STAR, 0.5), at(*prompt), at(path[0].x, path[0].y), max(1, width // 2), unit // 2)
    for i in range(1, n):
        age = (i / (n - 1)) ** 1.5 if n > 1 else 1.0
        colour = _fade(view.colour(path[i].hop), 0.18 + 0.82 * age)
        pygame.draw.line(surface, colour, at(path[i - 1].x, path[i - 1].y), at(path[i].x, path[i].y),
                         width + (2 if i == n - 1 else 0))
    for i, p in enumerate(path[:-1]):
        age = (i / (n - 1)) ** 1.5 if n > 1 else 1.0
        pygame.draw.circle(surface, _fade(view.colour(p.hop), 0.25 + 0.75 * age), at(p.x, p.y), max(2, width))
    if view.insight.loop and view.insight.nearest_sequence is not None:
        back = next((p for p in path if p.sequence == view.insight.nearest_sequence), None)
        if back is not None and path:
            _dotted(surface, LOOP, at(path[-1].x, path[-1].y), at(back.x, back.y), width, unit // 3)
    if prompt is not None:
        _star(surface, at(*prompt), unit * 0.9, STAR)
        _line(surface, "prompt", int(unit * 0.75), (at(*prompt)[0], at(*prompt)[1] + unit), STAR, 6 * unit, "midtop")
    if path:
        newest = at(path[-1].x, path[-1].y)
        pulse = 0.5 + 0.5 * math.sin(view.now * 3.0)
        pygame.draw.circle(surface, _fade(INK, 0.35 + 0.3 * pulse), newest, int(unit * (0.9 + 0.35 * pulse)), 2)
        pygame.draw.circle(surface, INK, newest, max(3, int(unit * 0.45)))
        pygame.draw.circle(surface, view.colour(path[-1].hop), newest, max(2, int(unit * 0.3)))
    _line(surface, "meaning, in two dimensions", int(unit * 0.7), (area.x + unit // 2, area.bottom - unit // 3), DIM,
          area.width - unit, "bottomleft")


def _dotted(surface: pygame.Surface, colour: tuple[int, int, int], a: tuple[int, int], b: tuple[int, int],
            width: int, dash: int) -> None:
    length = math.dist(a, b)
    steps = max(1, int(length / max(2, dash)))
    for k in range(0, steps, 2):
        t0, t1 = k / steps, min(1.0, (k + 1) / steps)
        p0 = (a[0] + (b[0] - a[0]) * t0, a[1] + (b[1] - a[1]) * t0)
        p1 = (a[0] + (b[0] - a[0]) * t1, a[1] + (b[1] - a[1]) * t1)
        pygame.draw.line(surface, colour, p0, p1, width)


def _star(surface: pygame.Surface, centre: tuple[int, int], radius: float, colour: tuple[int, int, int]) -> None:
    points = []
    for k in range(10):
        r = radius if k % 2 == 0 else radius * 0.45
        angle = -math.pi / 2 + k * math.pi / 5
        points.append((centre[0] + r * math.cos(angle), centre[1] + r * math.sin(angle)))
    pygame.draw.polygon(surface, colour, points)


# --- the column of gauges ---------------------------------------------------------------------


def _label(surface: pygame.Surface, box: pygame.Rect, text: str, unit: int) -> int:
    _line(surface, text.upper(), int(unit * 0.7), (box.x, box.y), DIM, box.width, "topleft", bold=True)
    return box.y + int(unit * 1.2)


def _drift(surface: pygame.Surface, box: pygame.Rect, view: HudView, unit: int) -> None:
    assert view.insight is not None
    top = _label(surface, box, "drift from the prompt", unit)
    drift, step = view.insight.drift, view.insight.step
    value = _line(surface, f"{drift:.2f}", int(unit * 1.9), (box.x, top), INK, box.width // 3, "topleft", bold=True)
    _line(surface, f"this step moved {step:.2f}", int(unit * 0.85), (value.right + unit, value.centery - unit // 2),
          INK, box.right - value.right - unit, "midleft")
    gauge = pygame.Rect(value.right + unit, value.centery + unit // 4, box.right - value.right - unit, int(unit * 0.55))
    pygame.draw.rect(surface, FAINT, gauge, border_radius=gauge.height // 2)
    filled = gauge.copy()
    filled.width = int(gauge.width * min(1.0, drift / 2.0))
    pygame.draw.rect(surface, drift_colour(drift), filled, border_radius=gauge.height // 2)
    mark = gauge.x + int(gauge.width * UNRELATED / 2.0)
    pygame.draw.line(surface, INK, (mark, gauge.y - unit // 4), (mark, gauge.bottom + unit // 4), 2)
    _line(surface, "unrelated", int(unit * 0.6), (mark + unit // 3, gauge.bottom + unit // 5), DIM,
          box.right - mark - unit // 3, "topleft")
    below = max(value.bottom, gauge.bottom + unit) + unit // 3
    spark = pygame.Rect(box.x, below, box.width, box.bottom - below)
    drifts = view.drifts
    if spark.height > unit and len(drifts) > 1:
        pygame.draw.rect(surface, PANEL, spark, border_radius=unit // 3)
        top_value = max(*drifts, 0.5)
        pts = [(spark.x + int(i * (spark.width - 1) / (len(drifts) - 1)),
                spark.bottom - 2 - int((spark.height - 4) * d / top_value)) for i, d in enumerate(drifts)]
        pygame.draw.lines(surface, drift_colour(drift), False, pts, 2)
        pygame.draw.circle(surface, INK, pts[-1], max(2, unit // 5))


def drift_colour(drift: float) -> tuple[int, int, int]:
    t = max(0.0, min(1.0, drift / UNRELATED))
    return (int(110 + 145 * t), int(200 - 110 * t), int(255 - 200 * t))


def _hops(surface: pygame.Surface, box: pygame.Rect, view: HudView, unit: int) -> None:
    top = _label(surface, box, "which models move meaning most", unit)
    size = int(unit * 0.85)
    row = int(size * 1.5)
    hops = view.hops
    if not hops:
        return
    biggest = max(h.mean_step for h in hops) or 1.0
    for i, hop in enumerate(hops[: max(1, (box.bottom - top) // row)]):
        y = top + i * row
        colour = view.colour(hop.hop)
        bar_w = int(box.width * 0.22)
        bar = int(bar_w * hop.mean_step / biggest)
        pygame.draw.rect(surface, colour, (box.x, y + row // 6, max(2, bar), row - row // 3), border_radius=2)
        value = draw_text(surface, f"{hop.mean_step:.2f}", size, (box.x + bar_w + unit // 2, y + row // 2), INK,
                          True, "midleft")
        _line(surface, hop.name, size, (value.right + unit // 2, y + row // 2), INK,
              box.right - value.right - unit, "midleft")


def _recurrence(surface: pygame.Surface, box: pygame.Rect, view: HudView, unit: int) -> None:
    assert view.insight is not None
    top = _label(surface, box, "has it been here before?", unit)
    badge = view.badge
    badge_w = 0
    if badge:
        colour = STUCK if badge == "STUCK" else LOOP
        f = font(int(unit * 0.95), True)
        bw, bh = f.size(badge)[0] + unit, int(unit * 1.6)
        pulse = 0.75 + 0.25 * math.sin(view.now * 4.0)
        rect = pygame.Rect(box.right - bw, top, bw, bh)
        pygame.draw.rect(surface, _fade(colour, pulse), rect, border_radius=bh // 3)
        draw_text(surface, badge, int(unit * 0.95), rect.center, BG, True, "center")
        badge_w = bw + unit // 2
    strip = pygame.Rect(box.x, top, box.width - badge_w, int(unit * 1.6))
    pygame.draw.rect(surface, PANEL, strip)
    distances = view.insight.recurrence
    if distances:
        w = strip.width / len(distances)
        for i, d in enumerate(distances):
            close = 1.0 - min(d, UNRELATED) / UNRELATED
            pygame.draw.rect(surface, _fade(INK, close ** 2), (strip.x + int(i * w), strip.y, max(1, int(w) - 1),
                                                              strip.height))
        mark = view.nearest_mark  # the nearest earlier output, two or more back: where it came closest to repeating
        if mark is not None:
            colour = LOOP if view.insight.loop else STUCK if view.insight.stuck else H0
            pygame.draw.rect(surface, colour, (strip.x + int(mark * w) - 1, strip.y - 2, max(3, int(w) + 1),
                                               strip.height + 4), 2)
    words = "bright: close to an earlier output \u00b7 dark: far from all of them"
    if view.insight.nearest_distance is not None and view.insight.nearest_sequence is not None:
        words = (f"closest to step #{view.insight.nearest_sequence} ({view.insight.nearest_distance:.2f})"
                 f"  \u00b7  bright = close, dark = far")
    _line(surface, words, int(unit * 0.7), (box.x, strip.bottom + unit // 3), DIM, box.width, "topleft")


def _barcode(surface: pygame.Surface, box: pygame.Rect, view: HudView, unit: int) -> None:
    assert view.insight is not None
    top = _label(surface, box, "shape of the last stretch", unit)
    legend_h = int(unit * 2.0)
    area = pygame.Rect(box.x, top, box.width, box.bottom - top - legend_h)
    pygame.draw.rect(surface, PANEL, area, border_radius=unit // 3)
    p = view.insight.persistence
    if p is None or area.height < unit:
        _line(surface, "after three outputs", int(unit * 0.8), area.center, DIM, area.width, "center")
    else:
        h0 = [b for b in p.h0 if b[1] is None or b[1] - b[0] > 1e-3]
        h1 = [b for b in p.h1 if b[1] is not None and b[1] - b[0] > 1e-3]
        finite = [v for b in (*h0, *h1) for v in b if v is not None]
        scale = max(max(finite, default=0.5), 0.5) * 1.08
        rows = max(1, (area.height - unit // 2) // max(3, unit // 2))
        bars: list[tuple[Bar, tuple[int, int, int]]] = [(b, H1) for b in h1][: rows // 3 or 1]
        bars = [(b, H0) for b in h0][: rows - len(bars)] + bars
        thick = max(2, min(unit // 2, (area.height - unit // 2) // max(1, len(bars)) - 2))
        y = area.y + unit // 4
        for (birth, death), colour in bars:
            x0 = area.x + unit // 2 + int((area.width - unit) * birth / scale)
            x1 = area.right - unit // 2 if death is None else area.x + unit // 2 + int((area.width - unit) * death / scale)
            pygame.draw.rect(surface, colour, (x0, y, max(2, x1 - x0), thick), border_radius=thick // 2)
            if death is None:
                pygame.draw.polygon(surface, colour, [(x1, y - 2), (x1 + unit // 2, y + thick // 2), (x1, y + thick + 2)])
            y += thick + 2
    legend = pygame.Rect(box.x, area.bottom + unit // 4, box.width, legend_h)
    size = int(unit * 0.7)
    pygame.draw.rect(surface, H0, (legend.x, legend.y + size // 3, size, size // 2))
    _line(surface, "blue: ideas that were apart and joined up (short = near each other)", size,
          (legend.x + size + unit // 2, legend.y), DIM, legend.width - size - unit, "topleft")
    pygame.draw.rect(surface, H1, (legend.x, legend.y + size + size // 2, size, size // 2))
    _line(surface, "pink: a loop \u2014 a long pink bar means it circled back to an old idea", size,
          (legend.x + size + unit // 2, legend.y + int(size * 1.2)), DIM, legend.width - size - unit, "topleft")
