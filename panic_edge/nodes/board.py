"""Vestaboard messages, pure: text to the board's character codes, and the pace of posting.

Codes from Vestaboard's character-code table (docs.vestaboard.com/docs/characterCodes): 0 blank,
1-26 A-Z, 27-36 the digits 1-9 then 0, punctuation 37-60, 62 is the degree sign on the flagship
and a heart on the Note. Letters are upper-cased, accents dropped (é -> E), typographic quotes and
dashes folded to their plain forms; anything else becomes ``?`` and is counted, never dropped.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

FLAGSHIP = (6, 22)
NOTE = (3, 15)
BOARDS = {"flagship": FLAGSHIP, "note": NOTE}

CODES: dict[str, int] = {" ": 0, **{chr(ord("A") + i): i + 1 for i in range(26)},
                         **{str((i + 1) % 10): 27 + i for i in range(10)},
                         "!": 37, "@": 38, "#": 39, "$": 40, "(": 41, ")": 42, "-": 44, "+": 46, "&": 47,
                         "=": 48, ";": 49, ":": 50, "'": 52, '"': 53, "%": 54, ",": 55, ".": 56, "/": 59,
                         "?": 60}
FOLD = {"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": "-",
        "\u2026": "...", "*": "", "_": "", "`": "'", "[": "(", "]": ")", "{": "(", "}": ")", "<": "(",
        ">": ")", "\u00df": "SS", "\u00e6": "AE", "\u00c6": "AE", "\u0153": "OE", "\u00f8": "O",
        "\u00d8": "O", "\t": " "}
REPLACEMENT = "?"


@dataclass(frozen=True)
class Message:
    codes: tuple[tuple[int, ...], ...]
    replaced: int  # characters the board cannot show, shown as "?"
    truncated: bool

    def as_json(self) -> list[list[int]]:
        return [list(row) for row in self.codes]


def fold(text: str, note: bool = False) -> tuple[str, int]:
    """Upper-case board text and how many characters had to be replaced."""
    out, replaced = [], 0
    for ch in text:
        for part in unicodedata.normalize("NFKD", FOLD.get(ch, ch)):
            if unicodedata.combining(part):
                continue
            c = part.upper()
            if c in CODES or c == "\n":
                out.append(c)
            elif (c in ("\u00b0",) and not note) or (c in ("\u2665", "\u2764") and note):
                out.append("\x00")  # code 62: the degree sign (flagship) or the heart (Note)
            elif c.isspace():
                out.append(" ")
            else:
                out.append(REPLACEMENT)
                replaced += 1
    return "".join(out), replaced


def wrap(text: str, cols: int) -> list[str]:
    """Word-wrap to ``cols``; a word longer than a row is split across rows."""
    lines: list[str] = []
    for para in text.split("\n"):
        line = ""
        for whole in para.split():
            word = whole
            while len(word) > cols:
                if line:
                    lines.append(line)
                    line = ""
                lines.append(word[:cols])
                word = word[cols:]
            if not line:
                line = word
            elif len(line) + 1 + len(word) <= cols:
                line += " " + word
            else:
                lines.append(line)
                line = word
        if line:
            lines.append(line)
    return lines


CLEAR = "P!"  # what a cleared board shows: the Read/Write API refuses an all-blank message


def compose(text: str, board: tuple[int, int] = FLAGSHIP) -> Message:
    """``text`` centred on the board, rows and columns; too long ends in ``...``. Never blank:
    text with nothing to show (empty, only spaces) becomes ``P!``, which every API accepts."""
    rows, cols = board
    folded, replaced = fold(text, note=board == NOTE)
    lines = wrap(folded, cols)
    if not lines:
        folded, replaced = fold(CLEAR)
        lines = [folded]
    truncated = len(lines) > rows
    if truncated:
        lines = lines[:rows]
        last = lines[-1]
        lines[-1] = (last if len(last) <= cols - 3 else last[: cols - 3].rstrip()) + "..."
    top = (rows - len(lines)) // 2
    grid = [[0] * cols for _ in range(rows)]
    for r, line in enumerate(lines):
        left = (cols - len(line)) // 2
        for c, ch in enumerate(line):
            grid[top + r][left + c] = 62 if ch == "\x00" else CODES[ch]
    return Message(tuple(tuple(row) for row in grid), replaced, truncated)


@dataclass
class Pacer:
    """When the next message may go up.

    At least ``min_interval`` between posts (the board's flip time, or the cloud API's rate
    limit); at least the shown model's ``post_wait`` after a post, so a visitor can read it; and
    the next model's ``pre_wait`` after its output arrived.
    """

    min_interval: float
    last_post: float | None = None
    hold_until: float = 0.0

    def due(self, arrived_at: float, pre_wait: float = 0.0) -> float:
        after_last = self.last_post + self.min_interval if self.last_post is not None else 0.0
        return max(after_last, self.hold_until, arrived_at + pre_wait)

    def posted(self, at: float, post_wait: float = 0.0) -> None:
        self.last_post = at
        self.hold_until = at + post_wait
