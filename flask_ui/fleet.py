"""The fleet view: every appliance on the broker (and on brokers bridged to it), from their
retained topics, each linked to its own admin page. ``GET /api/fleet`` is the same as JSON."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, render_template
from flask.typing import ResponseReturnValue

from flask_ui.auth import read_required

bp = Blueprint("fleet", __name__)


def _snapshot() -> dict[str, Any]:
    fleet = current_app.config["PANIC"].fleet
    return fleet() if fleet is not None else {"appliances": [], "ignored": 0, "disabled": True}


@bp.get("/fleet")
@read_required
def page() -> ResponseReturnValue:
    return render_template("fleet.html", fleet=_snapshot())


@bp.get("/api/fleet")
@read_required
def api() -> ResponseReturnValue:
    return jsonify(_snapshot())
