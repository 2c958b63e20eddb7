"""Template helpers: text outputs as safe markdown, media links relative to the page, times."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask, current_app
from markupsafe import Markup

from panic_edge import markdown as md
from panic_edge.config import size_text
from panic_edge.core.catalogue import describe
from panic_edge.core.media import Content
from panic_edge.core.model import Model
from panic_edge.core.pacing import pacing_text


def markdown(text: str | None) -> Markup:
    """A text output as HTML, by panic-edge's one markdown parser (raw HTML and images off)."""
    return Markup(md.to_html(text))


def media_path(content: Content | None) -> str | None:
    """The archived file's URL on this server, relative, so it works from a phone on the LAN."""
    return f"/media/{content.file}" if content is not None and content.file else None


def notices() -> list[tuple[str, str]]:
    """What the top of every page says, most urgent first: the machine's health warnings, then
    whether the installation is closed (``(kind, text)``; kind ``bad`` or ``note``)."""
    try:
        status = current_app.config["PANIC"].status()
    except (AttributeError, KeyError, RuntimeError):  # a page renders while the daemon starts or stops
        return []
    health = status.get("health") or {}
    out = [("bad", str(w)) for w in health.get("warnings") or []]
    if status.get("open") is False:
        opens = status.get("opens_at")
        until = f" until {opens}" if opens else ""
        text = f"The installation is closed{until} (opening hours, [schedule]): presses are answered 'closed'."
        out.append(("note", text))
    return out


def archived(content: Content | None) -> bool:
    """Whether an archived file is still there (retention prunes the oldest; docs/operations.md)."""
    if content is None or not content.file:
        return True
    root: Path = current_app.config["PANIC"].archive_dir
    return (root / content.file).is_file()


def clock(ts: float | None) -> str:
    if not ts:
        return ""
    try:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))
    except (OverflowError, OSError, ValueError):  # a timestamp no clock could have written
        return "?"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {secs:02d} s"


def cost(usd: float | None) -> str:
    return "–" if usd is None else f"${usd:.4f}" if usd < 1 else f"${usd:.2f}"


def catalogue_json(catalogue: Mapping[str, Model]) -> str:
    """The catalogue for the page's scripts, safe inside a <script> element."""
    data = {m.id: {"name": m.label, "input": str(m.input), "output": str(m.output),
                   "typical": m.hints.typical_seconds, "platform": m.platform,
                   **({"deprecated": True} if m.deprecated else {})} for m in catalogue.values()}
    return json.dumps(data).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def init_app(app: Flask) -> None:
    app.add_template_global(catalogue_json, "catalogue_json")
    app.add_template_global(pacing_text, "pacing_text")
    app.add_template_global(describe, "describe")
    app.add_template_filter(markdown, "markdown")
    app.add_template_filter(media_path, "media_path")
    app.add_template_filter(archived, "archived")
    app.add_template_filter(size_text, "bytes")
    app.add_template_filter(clock, "clock")
    app.add_template_filter(duration, "duration")
    app.add_template_filter(cost, "cost")

    @app.context_processor
    def _now() -> dict[str, Any]:
        return {"server_now": time.time(), "notices": notices}
