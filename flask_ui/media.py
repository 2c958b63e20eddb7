"""Archived output files, served with their real content type, never a platform URL."""

from __future__ import annotations

import re
from importlib import resources

from flask import Blueprint, Response, abort, current_app, send_from_directory
from flask.typing import ResponseReturnValue

from panic_edge.archive import sniff

bp = Blueprint("media", __name__)
# what the archive names its files: <network>/<invocation>.<ext>, made of these characters only
ARCHIVE_NAME = re.compile(r"[A-Za-z0-9._-]{1,200}(/[A-Za-z0-9._-]{1,200}){0,3}")


@bp.get("/media/<path:relative>")
def media(relative: str) -> ResponseReturnValue:
    if not ARCHIVE_NAME.fullmatch(relative):
        abort(404)  # NUL, control characters, absurd lengths: no file was ever named so
    root = current_app.config["PANIC"].archive_dir
    try:
        target = (root / relative).resolve()
        if not target.is_relative_to(root.resolve()):
            abort(404)
        if not target.is_file():
            return _gone(relative)
        with open(target, "rb") as fh:
            found = sniff(fh.read(16))
    except OSError:
        abort(404)
    mimetype = found[0] if found else "application/octet-stream"
    response = send_from_directory(root, relative, mimetype=mimetype, max_age=31536000)
    response.headers["Content-Disposition"] = "inline"
    return response


def _gone(relative: str) -> ResponseReturnValue:
    """A file retention pruned (or never written): 410 Gone, and for a picture a calm placeholder
    picture in the body, so a page or a screen shows a card, not a broken image; cacheable, so
    nobody asks again and again."""
    if relative.rsplit(".", 1)[-1].lower() not in ("png", "jpg", "jpeg", "webp", "gif"):
        abort(404)
    art = resources.files("panic_edge").joinpath("assets", "pruned.png").read_bytes()
    return Response(art, status=410, mimetype="image/png", headers={"Cache-Control": "public, max-age=86400"})
