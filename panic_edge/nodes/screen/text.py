"""Fonts, and styled text wrapped to fit a rectangle at the largest size that fits."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import pygame

from panic_edge.nodes.screen.markdown import Block, Run

# DejaVu is on Raspberry Pi OS and Debian (fonts-dejavu-core); pygame's own font is the fallback.
_FONT_DIRS = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/dejavu", "/Library/Fonts",
              "/opt/homebrew/share/fonts")
_FACES = {(False, False): "DejaVuSans.ttf", (True, False): "DejaVuSans-Bold.ttf",
          (False, True): "DejaVuSans-Oblique.ttf", (True, True): "DejaVuSans-BoldOblique.ttf"}
_MONO = "DejaVuSansMono.ttf"
SCALE = {"h1": 1.45, "h2": 1.25, "h3": 1.1}


def _find(name: str) -> str | None:
    for folder in _FONT_DIRS:
        if (Path(folder) / name).exists():
            return str(Path(folder) / name)
    return None


@functools.lru_cache(maxsize=512)
def font(size: int, bold: bool = False, italic: bool = False, mono: bool = False) -> pygame.font.Font:
    path = _find(_MONO if mono else _FACES[(bold, italic)])
    if path is None:  # pygame's built-in face, with synthetic styles
        f = pygame.font.Font(None, int(size * 1.3))
        f.set_bold(bold)
        f.set_italic(italic)
        return f
    return pygame.font.Font(path, size)


def run_font(run: Run, size: int) -> pygame.font.Font:
    return font(size, run.bold, run.italic, run.code)


@dataclass(frozen=True)
class Piece:
    text: str
    run: Run
    size: int
    x: int


@dataclass(frozen=True)
class Line:
    pieces: tuple[Piece, ...]
    height: int
    width: int
    quote: bool = False


def _wrap_block(block: Block, size: int, width: int) -> list[Line]:
    size = int(size * SCALE.get(block.kind, 1.0))
    lines: list[Line] = []
    pieces: list[Piece] = []
    x = 0
    indent = font(size).size(block.prefix)[0] if block.prefix else 0
    height = font(size).get_linesize()
    quote = block.kind == "quote"
    if block.prefix:
        pieces.append(Piece(block.prefix, Run(block.prefix), size, 0))
        x = indent

    def flush() -> None:
        nonlocal pieces, x
        lines.append(Line(tuple(pieces), height, x, quote))
        pieces, x = [], indent

    for run in block.runs:
        f = run_font(run, size)
        for token in _tokens(run.text, keep_lines=block.kind == "code"):
            part = token
            if part == "\n":
                flush()
                continue
            w = f.size(part)[0]
            if x + w > width and part.strip() and x > indent:
                flush()
                part = part.lstrip() if block.kind != "code" else part
                w = f.size(part)[0]
            while w > width - indent and len(part) > 1:  # one word wider than the cell: break it
                cut = _fit_chars(f, part, width - x)
                pieces.append(Piece(part[:cut], run, size, x))
                x += f.size(part[:cut])[0]
                flush()
                part = part[cut:]
                w = f.size(part)[0]
            if x == indent and not part.strip() and block.kind != "code":
                continue
            pieces.append(Piece(part, run, size, x))
            x += w
    if pieces:
        flush()
    return lines


def _fit_chars(f: pygame.font.Font, word: str, room: int) -> int:
    cut = len(word)
    while cut > 1 and f.size(word[:cut])[0] > room:
        cut -= 1
    return max(1, cut)


def _tokens(text: str, keep_lines: bool) -> list[str]:
    """Words with their trailing space, and explicit line breaks, in order."""
    out: list[str] = []
    for i, line in enumerate(text.split("\n")):
        if i:
            out.append("\n")
        word = ""
        for ch in line:
            word += ch
            if ch == " " and not keep_lines:
                out.append(word)
                word = ""
        if word:
            out.append(word)
    return out


@dataclass(frozen=True)
class Layout:
    lines: tuple[Line, ...]
    size: int
    height: int
    truncated: bool


def layout(blocks: list[Block], width: int, height: int, max_size: int = 64, min_size: int = 12) -> Layout:
    """The blocks wrapped to ``width`` at the largest font size whose lines fit ``height``."""
    size = max_size
    while True:
        lines: list[Line] = []
        gap = size // 2
        for i, block in enumerate(blocks):
            if i:
                lines.append(Line((), gap, 0))
            lines.extend(_wrap_block(block, size, width))
        total = sum(line.height for line in lines)
        if total <= height or size <= min_size:
            break
        size = max(min_size, int(size * 0.9))
    truncated = total > height
    if truncated:
        kept: list[Line] = []
        used = 0
        for line in lines:
            if used + line.height > height:
                break
            kept.append(line)
            used += line.height
        if kept:
            last = kept[-1]
            if last.pieces:
                p = last.pieces[-1]
                kept[-1] = Line((*last.pieces[:-1], Piece(p.text.rstrip() + " \u2026", p.run, p.size, p.x)),
                                last.height, last.width, last.quote)
        lines, total = kept, used
    return Layout(tuple(lines), size, total, truncated)


def draw_layout(surface: pygame.Surface, lay: Layout, rect: pygame.Rect, colour: tuple[int, int, int],
                centre: bool = False) -> None:
    y = rect.y + max(0, (rect.height - lay.height) // 2)
    for line in lay.lines:
        x0 = rect.x + ((rect.width - line.width) // 2 if centre else 0)
        if line.quote:
            pygame.draw.rect(surface, (120, 120, 140), (rect.x - 10, y, 3, line.height))
        for piece in line.pieces:
            f = run_font(piece.run, piece.size)
            tint = (150, 220, 255) if piece.run.code else colour
            img = f.render(piece.text, True, tint)
            surface.blit(img, (x0 + piece.x, y + (line.height - f.get_linesize())))
        y += line.height


def draw_text(surface: pygame.Surface, text: str, size: int, pos: tuple[int, int],
              colour: tuple[int, int, int], bold: bool = False, anchor: str = "topleft") -> pygame.Rect:
    """One line of plain text; ``anchor`` is any pygame.Rect position attribute."""
    img = font(size, bold).render(text, True, colour)
    rect = img.get_rect(**{anchor: pos})
    surface.blit(img, rect)
    return rect
