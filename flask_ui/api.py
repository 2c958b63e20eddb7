"""The JSON API: status and recent invocations (a display node that starts late fetches these)."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from panic_edge.core.invocation import invocation_message

bp = Blueprint("api", __name__, url_prefix="/api")


@bp.get("/status")
def status() -> ResponseReturnValue:
    return jsonify(current_app.config["PANIC"].status())


@bp.get("/networks/<slug>/invocations")
def recent(slug: str) -> ResponseReturnValue:
    settings = current_app.config["PANIC"]
    try:
        limit = max(1, min(int(request.args.get("limit", 16)), 500))
    except ValueError:
        return jsonify(error="limit must be a whole number"), 400
    invocations = current_app.config["READER"].recent_invocations(slug, limit)
    return jsonify(invocations=[
        invocation_message(inv, settings.model_names.get(inv.model, inv.model), settings.media_base)
        for inv in invocations])


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    return jsonify(ok=True)
