"""Markdown to styled blocks a screen can lay out: pure, on panic-edge's one parser's syntax tree.

Model outputs are often markdown (bold words, headings, lists). They are shown rendered, as one
piece of text: paragraphs stay paragraphs, never split across cells on blank lines. The parser
and its rules are the admin page's (``panic_edge.markdown``), so both show the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass

from markdown_it.tree import SyntaxTreeNode

from panic_edge.markdown import tree


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
    for node in tree(text).children:
        _block(node, out, quote=False)
    return [b for b in out if b.text.strip()] or [Block("p", (Run(text.strip()),))]


def _inline_of(node: SyntaxTreeNode, bold: bool = False) -> tuple[Run, ...]:
    return tuple(r for child in node.children for r in _inline(child, bold, False))


def _block(node: SyntaxTreeNode, out: list[Block], quote: bool, prefix: str = "") -> None:
    kind = node.type
    if kind == "paragraph":
        out.append(Block("quote" if quote else "p", _inline_of(node), prefix))
    elif kind == "heading":
        level = min(3, int(node.tag[1:] or 1))
        out.append(Block(f"h{level}", _inline_of(node, bold=True)))
    elif kind in ("fence", "code_block"):
        out.append(Block("code", (Run(node.content.rstrip("\n"), code=True),)))
    elif kind == "blockquote":
        for child in node.children:
            _block(child, out, quote=True)
    elif kind in ("bullet_list", "ordered_list"):
        start = int(node.attrs.get("start", 1) or 1)
        for n, item in enumerate(node.children):
            bullet = f"{start + n}. " if kind == "ordered_list" else "\u2022 "
            for i, child in enumerate(item.children):
                if child.type == "paragraph":
                    out.append(Block("li", _inline_of(child), bullet if i == 0 else "   "))
                else:
                    _block(child, out, quote)


def _inline(node: SyntaxTreeNode, bold: bool, italic: bool) -> list[Run]:
    kind = node.type
    if kind == "inline":
        return [r for child in node.children for r in _inline(child, bold, italic)]
    if kind == "text":
        return [Run(node.content, bold, italic)]
    if kind == "code_inline":
        return [Run(node.content, bold, italic, code=True)]
    if kind == "softbreak":
        return [Run(" ", bold, italic)]
    if kind == "hardbreak":
        return [Run("\n", bold, italic)]
    bold = bold or kind == "strong"
    italic = italic or kind == "em"
    return [r for child in node.children for r in _inline(child, bold, italic)]
