"""``render(surface, view, media)``: draws one frame from a View. No I/O, no clock of its own.

Layout: the cells of the grid (or one cell), each an output (text, image, audio waveform, a
placeholder) or a running invocation's model and waiting timer; over them, when the loop is
idle, an attract screen; a red banner when the appliance or the broker is away; the terminal's
prompt line and lockout countdown; the QR code to the network's about page.
"""

from __future__ import annotations

import functools
import math
from importlib import resources

import pygame

from panic_edge.nodes.messages import Shown
from panic_edge.nodes.screen import markdown
from panic_edge.nodes.screen.media import MediaCache
from panic_edge.nodes.screen.text import draw_layout, draw_text, font, layout
from panic_edge.nodes.view import View

BG = (12, 12, 16)
CELL = (24, 24, 32)
INK = (236, 232, 222)
DIM = (140, 140, 155)
ACCENT = (255, 92, 56)
WAVE = (110, 200, 255)
BANNER = (190, 30, 40)


@functools.lru_cache(maxsize=4)
def placeholder(name: str) -> pygame.Surface:
    data = resources.files("panic_edge").joinpath("assets", f"{name}.png").read_bytes()
    from panic_edge.nodes.screen.media import decode_image

    return decode_image(data)


def render(surface: pygame.Surface, view: View, media: MediaCache) -> None:
    surface.fill(BG)
    width, height = surface.get_size()
    unit = max(10, min(width, height) // 40)  # the size of small print, scaled to the screen
    bottom = 3 * unit if view.terminal else 0
    area = pygame.Rect(0, 0, width, height - bottom)
    gap = max(4, unit // 2) if len(view.cells) > 1 else 0
    cw = (area.width - gap * (view.cols + 1)) // view.cols
    ch = (area.height - gap * (view.rows + 1)) // view.rows
    for i, shown in enumerate(view.cells):
        r, c = divmod(i, view.cols)
        rect = pygame.Rect(gap + c * (cw + gap), gap + r * (ch + gap), cw, ch)
        _cell(surface, rect, shown, view, media, unit if len(view.cells) > 1 else int(unit * 1.3))
    if view.closed:
        _closed(surface, area, "closed", view.closed, unit)
    elif view.budget and not view.running:  # no run can start today: never invite a press
        _closed(surface, area, "back tomorrow", view.budget, unit)
    elif view.attract:
        _attract(surface, area, view, unit)
    elif view.budget or view.pause:
        _note(surface, area, view.budget or view.pause or "", unit)
    elif view.next_invocation_at is not None and view.next_invocation_at > view.now and not any(
            c is not None and c.state == "ready" for c in view.cells):  # a waiting cell counts down itself
        _pill(surface, area, f"next step in {clock_text(view.next_invocation_at - view.now)}", unit)
    if view.problem:
        _problem(surface, area, view.problem, unit)
    if view.about_url:
        _qr(surface, view.about_url, area, unit, view.qr_label)
    if view.terminal:
        _terminal(surface, pygame.Rect(0, height - bottom, width, bottom), view, unit)
    reason = view.offline_reason
    if reason:
        _banner(surface, reason, unit)


# --- cells ------------------------------------------------------------------------------------


def _cell(surface: pygame.Surface, rect: pygame.Rect, shown: Shown | None, view: View, media: MediaCache,
          unit: int) -> None:
    pygame.draw.rect(surface, CELL, rect)
    if shown is None:
        return
    caption_h = int(unit * 1.6)
    body = rect.inflate(-unit, -unit)
    body.height -= caption_h
    if not shown.done:
        due = view.next_invocation_at if shown.state == "ready" else None
        _waiting(surface, body, shown, view.now, unit, due, held=shown.state == "ready" and bool(view.pause))
    elif shown.state == "failed":
        _placeholder(surface, body, "failed", "this step failed", shown.error or "", unit)
    elif "pruned" in shown.flags:  # retention deleted the file; the row, and this calm card, stay
        _placeholder(surface, body, "pruned", "archived away to make room", "", unit)
    elif shown.nsfw:
        _placeholder(surface, body, "nsfw", "hidden by the model's safety filter", "", unit)
    elif shown.output_type == "text":
        _text(surface, body, shown.output or "", unit)
    elif shown.output and shown.output_type == "image":
        _image(surface, body, shown.output, media, unit)
    elif shown.output and shown.output_type == "audio":
        _audio(surface, body, shown.output, media, unit)
    caption = f"#{shown.sequence}  {shown.model_name}"
    _fit_line(surface, caption, int(unit * 0.9), (rect.x + unit // 2, rect.bottom - unit // 3), DIM,
              rect.width - unit, "bottomleft")


def _fit_line(surface: pygame.Surface, text: str, size: int, pos: tuple[int, int], colour: tuple[int, int, int],
              room: int, anchor: str, bold: bool = False) -> None:
    from panic_edge.nodes.screen.text import font

    f = font(size, bold)
    while len(text) > 1 and f.size(text)[0] > room:
        text = text[:-2] + "\u2026"
    draw_text(surface, text, size, pos, colour, bold, anchor)


def _text(surface: pygame.Surface, rect: pygame.Rect, text: str, unit: int) -> None:
    inner = rect.inflate(-unit, -unit)
    lay = layout(markdown.blocks(text), inner.width, inner.height, max_size=max(14, inner.height // 5),
                 min_size=max(10, unit // 2 + 4))
    draw_layout(surface, lay, inner, INK)


def _image(surface: pygame.Surface, rect: pygame.Rect, url: str, media: MediaCache, unit: int) -> None:
    item = media.get(url, "image")
    if item is None:
        _fit_line(surface, "loading\u2026", unit, rect.center, DIM, rect.width, "center")
    elif item.gone:
        _placeholder(surface, rect, "pruned", "archived away to make room", "", unit)
    elif item.image is None:
        _placeholder(surface, rect, "failed", "could not load the picture", item.error or "", unit)
    else:
        img = media.scaled(url, item.image, rect.size)
        surface.blit(img, img.get_rect(center=rect.center))


def _audio(surface: pygame.Surface, rect: pygame.Rect, url: str, media: MediaCache, unit: int) -> None:
    item = media.get(url, "audio")
    if item is None or item.peaks is None:
        msg = ("loading\u2026" if item is None else "archived away to make room" if item.gone
               else "could not load the sound")
        _fit_line(surface, msg, unit, rect.center, DIM, rect.width, "center")
        return
    peaks = item.peaks
    if item.seconds is not None:
        draw_text(surface, f"\u266a {item.seconds:.1f} s", unit, (rect.right, rect.y), DIM, anchor="topright")
    rect = pygame.Rect(rect.x, rect.y + int(unit * 1.6), rect.width, rect.height - int(unit * 1.6))
    mid = rect.centery
    bar = rect.width / len(peaks)
    for i, p in enumerate(peaks):
        h = max(2, int(p * rect.height * 0.45))
        x = rect.x + int(i * bar)
        pygame.draw.rect(surface, WAVE, (x, mid - h, max(1, int(bar) - 1), 2 * h))
    pygame.draw.line(surface, (60, 90, 120), (rect.x, mid), (rect.right, mid))


def _placeholder(surface: pygame.Surface, rect: pygame.Rect, name: str, title: str, detail: str,
                 unit: int) -> None:
    art = placeholder(name)
    side = min(rect.width, int(rect.height * 0.7))
    img = pygame.transform.smoothscale(art, (side, side))
    top = img.get_rect(midtop=(rect.centerx, rect.y))
    surface.blit(img, top)
    _fit_line(surface, title, unit, (rect.centerx, top.bottom + unit // 2), INK, rect.width, "midtop")
    if detail:
        _fit_line(surface, detail, int(unit * 0.8), (rect.centerx, top.bottom + 2 * unit), DIM, rect.width,
                  "midtop")


def _waiting(surface: pygame.Surface, rect: pygame.Rect, shown: Shown, now: float, unit: int,
             due: float | None = None, held: bool = False) -> None:
    """A step in flight (how long it has taken), one paced to start later (a countdown), or one on
    hold (the budget, the opening hours: the note along the bottom says why)."""
    size = max(unit, min(rect.height // 8, rect.width // 14))
    _fit_line(surface, shown.model_name, size, (rect.centerx, rect.centery - size), INK, rect.width, "midbottom",
              bold=True)
    if held:
        line = "on hold"
    elif due is not None and due > now:
        line = f"next in {clock_text(due - now)}"
    else:
        line = f"waiting {max(0.0, now - (shown.started_at or shown.created_at)):4.0f} s"
    _fit_line(surface, line, int(size * 0.8), (rect.centerx, rect.centery + size // 2), ACCENT, rect.width,
              "midtop")
    dots = 12
    radius = size * 0.9
    for d in range(dots):  # a turning ring of dots, driven by the view's clock
        angle = 2 * math.pi * d / dots
        phase = (d / dots - now * 0.8) % 1.0
        shade = int(60 + 180 * phase)
        x = rect.centerx + int(radius * math.cos(angle))
        y = rect.centery + int(size * 3.2) + int(radius * math.sin(angle))
        pygame.draw.circle(surface, (shade, shade // 2, shade // 3), (x, y), max(2, size // 8))


# --- overlays ---------------------------------------------------------------------------------


def _attract(surface: pygame.Surface, area: pygame.Rect, view: View, unit: int) -> None:
    veil = pygame.Surface(area.size, pygame.SRCALPHA)
    veil.fill((8, 8, 12, 205))
    surface.blit(veil, area.topleft)
    big = max(2 * unit, min(area.width // 6, area.height // 4))
    cx, cy = area.centerx, area.centery
    pulse = 0.5 + 0.5 * math.sin(view.now * 2.0)
    red = (255, int(60 + 60 * pulse), int(40 + 40 * pulse))
    draw_text(surface, "PANIC!", big, (cx, cy - big // 3), red, bold=True, anchor="midbottom")
    ask = "type a prompt and press Enter" if view.terminal else "press the button"
    draw_text(surface, ask, max(unit, big // 3), (cx, cy), INK, anchor="midtop")
    _fit_line(surface, view.network_name, max(unit, big // 6), (cx, cy + big // 3 + int(big * 0.45)), DIM,
              area.width - 2 * unit, "midtop")


def _closed(surface: pygame.Surface, area: pygame.Rect, title: str, opens: str, unit: int) -> None:
    """No run can start (outside the opening hours, or the day's budget is spent): a dark, still
    screen that says when it opens (no animation)."""
    veil = pygame.Surface(area.size, pygame.SRCALPHA)
    veil.fill((6, 6, 9, 240))
    surface.blit(veil, area.topleft)
    fits = int(area.width * 1.3 / max(1, len(title)))  # a longer title in smaller letters, within the width
    big = max(2 * unit, min(area.width // 8, area.height // 5, fits))
    draw_text(surface, title, big, (area.centerx, area.centery), DIM, bold=True, anchor="midbottom")
    _fit_line(surface, opens, max(unit, big // 3), (area.centerx, area.centery + unit), INK,
              area.width - 2 * unit, "midtop")


def _note(surface: pygame.Surface, area: pygame.Rect, text: str, unit: int) -> None:
    """A calm strip along the bottom: the run waits (for the budget, for opening time)."""
    h = int(unit * 2.4)
    strip = pygame.Surface((area.width, h), pygame.SRCALPHA)
    strip.fill((20, 20, 28, 220))
    surface.blit(strip, (area.x, area.bottom - h))
    _fit_line(surface, text, int(unit * 1.0), (area.centerx, area.bottom - h // 2), ACCENT,
              area.width - 2 * unit, "center")


def _pill(surface: pygame.Surface, area: pygame.Rect, text: str, unit: int) -> None:
    """A small quiet label in the top right corner (the paced wait between steps)."""
    label = font(int(unit * 0.9), False).render(text, True, ACCENT)
    pad = unit // 2
    box = pygame.Rect(0, 0, label.get_width() + 2 * pad, label.get_height() + pad)
    box.topright = (area.right - unit, area.y + unit)
    pygame.draw.rect(surface, (20, 20, 28), box, border_radius=pad)
    surface.blit(label, label.get_rect(center=box.center))


def clock_text(seconds: float) -> str:
    """``12 s``, ``4 min 05 s``, ``1 h 02 min``: a countdown as people read it."""
    s = int(seconds + 0.999)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def _problem(surface: pygame.Surface, area: pygame.Rect, text: str, unit: int) -> None:
    """A screen that has no installation to follow yet (or the wrong kind): say so, plainly."""
    veil = pygame.Surface(area.size, pygame.SRCALPHA)
    veil.fill((8, 8, 12, 225))
    surface.blit(veil, area.topleft)
    lay = layout(markdown.blocks(text), area.width - 4 * unit, area.height // 2, max_size=2 * unit,
                 min_size=unit)
    draw_layout(surface, lay, area.inflate(-4 * unit, -(area.height // 2)), INK, centre=True)


def _banner(surface: pygame.Surface, reason: str, unit: int) -> None:
    width = surface.get_width()
    h = int(unit * 2.4)
    pygame.draw.rect(surface, BANNER, (0, 0, width, h))
    _fit_line(surface, "\u26a0  " + reason, int(unit * 1.1), (width // 2, h // 2), (255, 255, 255),
              width - 2 * unit, "center", bold=True)


def _terminal(surface: pygame.Surface, rect: pygame.Rect, view: View, unit: int) -> None:
    pygame.draw.rect(surface, (30, 30, 40), rect)
    pygame.draw.line(surface, ACCENT, rect.topleft, rect.topright, 2)
    size = int(unit * 1.2)
    left = (rect.x + unit, rect.centery)
    if view.notice == "locked":
        left_s = view.lockout_left()
        msg = f"Someone just started a run. Try again in {math.ceil(left_s)} s"
        _fit_line(surface, msg, size, left, ACCENT, rect.width - 2 * unit, "midleft", bold=True)
        return
    if view.notice:
        _fit_line(surface, view.notice, size, left, ACCENT, rect.width - 2 * unit, "midleft")
        return
    cursor = "\u258c" if int(view.now * 2) % 2 == 0 else " "
    text = f"> {view.prompt}{cursor}" if view.prompt else f"> type a prompt, press Enter{cursor}"
    colour = INK if view.prompt else DIM
    _fit_line(surface, text[-200:], size, left, colour, rect.width - 2 * unit, "midleft")


@functools.lru_cache(maxsize=8)
def _qr_matrix(url: str) -> tuple[tuple[bool, ...], ...]:
    import qrcode

    code = qrcode.QRCode(border=2, error_correction=qrcode.constants.ERROR_CORRECT_M)
    code.add_data(url)
    code.make(fit=True)
    return tuple(tuple(row) for row in code.get_matrix())


def _qr(surface: pygame.Surface, url: str, area: pygame.Rect, unit: int, label: str) -> None:
    matrix = _qr_matrix(url)
    n = len(matrix)
    px = max(2, (unit * 8) // n)
    side = n * px
    x0, y0 = area.right - side - unit, area.bottom - side - unit - int(unit * 1.3)
    pygame.draw.rect(surface, (255, 255, 255), (x0, y0, side, side))
    for r, row in enumerate(matrix):
        for c, dark in enumerate(row):
            if dark:
                pygame.draw.rect(surface, (0, 0, 0), (x0 + c * px, y0 + r * px, px, px))
    draw_text(surface, label, int(unit * 0.8), (x0 + side // 2, y0 + side + 4), INK, anchor="midtop")
