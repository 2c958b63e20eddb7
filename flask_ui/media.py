"""Archived output files, served with their real content type, never a platform URL."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, send_from_directory
from flask.typing import ResponseReturnValue

from panic_edge.archive import sniff

bp = Blueprint("media", __name__)


@bp.get("/media/<path:relative>")
def media(relative: str) -> ResponseReturnValue:
    root = current_app.config["PANIC"].archive_dir
    target = (root / relative).resolve()
    if not target.is_relative_to(root.resolve()) or not target.is_file():
        abort(404)
    with open(target, "rb") as fh:
        found = sniff(fh.read(16))
    mimetype = found[0] if found else "application/octet-stream"
    response = send_from_directory(root, relative, mimetype=mimetype, max_age=31536000)
    response.headers["Content-Disposition"] = "inline"
    return response
