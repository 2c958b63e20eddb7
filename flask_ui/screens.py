"""Remote screens: the nodes the appliance has heard from, their latest screenshots, and the
commands an admin can send them (``blank``, ``wake``, ``reload``, ``screenshot``).

The commands go through the daemon's control path (``Control.node_command``) onto MQTT
``nodes/<node_id>/cmd/<verb>``; a node answers a screenshot request on ``nodes/<node_id>/screenshot``,
and the daemon tells open pages over the ``screenshot`` server-sent event.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Blueprint, Response, abort, flash, jsonify, redirect, render_template, url_for
from flask.typing import ResponseReturnValue

from flask_ui.auth import admin_required, control_or_503, read_required
from panic_edge.errors import PanicEdgeError

if TYPE_CHECKING:
    from panic_edge.daemon.screens import Screens

bp = Blueprint("screens", __name__)


def _screens_or_503() -> Screens:
    screens = control_or_503().screens
    if screens is None:
        abort(503, "remote screens are not available here")
    return screens


@bp.get("/screens")
@read_required
def page() -> ResponseReturnValue:
    return render_template("screens.html", nodes=_screens_or_503().nodes())


@bp.get("/api/nodes")
@read_required
def nodes() -> ResponseReturnValue:
    return jsonify(nodes=_screens_or_503().nodes())


@bp.get("/api/nodes/<node_id>/screenshot.png")
@read_required
def screenshot(node_id: str) -> ResponseReturnValue:
    shot = _screens_or_503().get(node_id)
    if shot is None:
        abort(404)
    return Response(shot.png, mimetype="image/png",
                    headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})


@bp.post("/api/nodes/<node_id>/cmd/<verb>")
@admin_required
def api_command(node_id: str, verb: str) -> ResponseReturnValue:
    try:
        control_or_503().node_command(node_id, verb)
    except PanicEdgeError as err:
        return jsonify(error=str(err)), 409
    return jsonify(ok=True, node_id=node_id, command=verb)


@bp.post("/screens/<node_id>/<verb>")
@admin_required
def command(node_id: str, verb: str) -> ResponseReturnValue:
    try:
        control_or_503().node_command(node_id, verb)
        flash(f"sent {verb} to {node_id}")
    except PanicEdgeError as err:
        flash(str(err), "error")
    return redirect(url_for("screens.page"))
