"""The one markdown parser of panic-edge: markdown-it-py, CommonMark, one set of rules.

Model outputs are often markdown. The admin page renders them as HTML (``to_html``); screens and
the Vestaboard lay them out from the same syntax tree (``tree``; see nodes/screen/markdown.py).
The rules: CommonMark, raw HTML off (a model's output never injects markup or script; it shows
as the text it is), images off (an output never makes a viewer fetch a URL), and markdown-it
refuses javascript:/vbscript:/data: links by itself.
"""

from __future__ import annotations

from markdown_it import MarkdownIt
from markdown_it.tree import SyntaxTreeNode

_md = MarkdownIt("commonmark", {"html": False, "linkify": False}).disable("image")


def to_html(text: str | None) -> str:
    """Safe HTML for a page (the caller marks it safe)."""
    html: str = _md.render(text or "")  # markdown-it types render() as Any
    return html


def tree(text: str) -> SyntaxTreeNode:
    """The syntax tree of ``text``: block nodes (paragraph, heading, bullet_list, ...) with inline children."""
    return SyntaxTreeNode(_md.parse(text))
