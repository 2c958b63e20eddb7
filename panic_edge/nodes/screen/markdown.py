"""Markdown to styled blocks a screen can lay out: pure, on mistune's syntax tree.

Model outputs are often markdown (bold words, headings, lists). They are shown rendered, as one
piece of text: paragraphs stay paragraphs, never split across cells on blank lines.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import mistune

_parse = mistune.create_markdown(renderer=None)


@dataclass(frozen=True)
class Run:
    text: str
    bold: bool = False
    italic: bool = False
    code: bool = False


@dataclass(frozen=True)
class Block:
    """One paragraph-like piece: ``kind`` is p, h1..h3, li, quote or code; ``prefix`` a bullet."""

    kind: str
    runs: tuple[Run, ...]
    prefix: str = ""

    @property
    def text(self) -> str:
        return self.prefix + "".join(r.text for r in self.runs)


def blocks(text: str) -> list[Block]:
    """The blocks of ``text``; plain text gives one ``p`` per paragraph."""
    out: list[Block] = []
    tokens: list[dict[str, Any]] = _parse(text)  # type: ignore[assignment]
    for token in tokens:
        _block(token, out, quote=False)
    return [b for b in out if b.text.strip()] or [Block("p", (Run(text.strip()),))]


def _block(token: dict[str, Any], out: list[Block], quote: bool, prefix: str = "") -> None:
    kind = token.get("type")
    if kind in ("paragraph", "block_text"):
        out.append(Block("quote" if quote else "p", _inline(token.get("children", [])), prefix))
    elif kind == "heading":
        level = min(3, int(token.get("attrs", {}).get("level", 1)))
        out.append(Block(f"h{level}", _inline(token.get("children", []), bold=True)))
    elif kind == "block_code":
        out.append(Block("code", (Run(token.get("raw", "").rstrip("\n"), code=True),)))
    elif kind == "block_quote":
        for child in token.get("children", []):
            _block(child, out, quote=True)
    elif kind == "list":
        ordered = bool(token.get("attrs", {}).get("ordered"))
        start = int(token.get("attrs", {}).get("start") or 1)
        for n, item in enumerate(token.get("children", [])):
            bullet = f"{start + n}. " if ordered else "\u2022 "
            for i, child in enumerate(item.get("children", [])):
                if child.get("type") in ("paragraph", "block_text"):
                    out.append(Block("li", _inline(child.get("children", [])), bullet if i == 0 else "   "))
                else:
                    _block(child, out, quote)
    elif kind == "block_html" or kind == "block_error":
        out.append(Block("p", (Run(token.get("raw", "").strip()),)))


def _inline(children: list[dict[str, Any]], bold: bool = False, italic: bool = False) -> tuple[Run, ...]:
    runs: list[Run] = []
    for child in children:
        kind = child.get("type")
        if kind == "text":
            runs.append(Run(child.get("raw", ""), bold, italic))
        elif kind == "strong":
            runs.extend(_inline(child.get("children", []), True, italic))
        elif kind == "emphasis":
            runs.extend(_inline(child.get("children", []), bold, True))
        elif kind == "codespan":
            runs.append(Run(child.get("raw", ""), bold, italic, code=True))
        elif kind in ("softbreak",):
            runs.append(Run(" ", bold, italic))
        elif kind == "linebreak":
            runs.append(Run("\n", bold, italic))
        elif kind in ("link", "image", "strikethrough"):
            runs.extend(_inline(child.get("children", []), bold, italic))
        elif "raw" in child:
            runs.append(Run(child["raw"], bold, italic))
        elif "children" in child:
            runs.extend(_inline(child["children"], bold, italic))
    return tuple(runs)
