"""Insight on the admin page: a run's geometry as JSON for its charts, and "runs like this one".

Reads the insight tables on read-only connections (``panic_edge.insight.db``); no numpy here, so
the page works whether or not the insight extra is installed, and says why insight is off.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from flask import Blueprint, abort, current_app, jsonify, render_template, request
from flask.typing import ResponseReturnValue

from flask_ui.auth import read_required
from panic_edge.core.insight import hop_steps
from panic_edge.errors import CursorError
from panic_edge.insight import db

bp = Blueprint("insight", __name__)


def insight_status() -> dict[str, Any]:
    """The daemon's insight status (state, reason, model ...), or unknown without a daemon."""
    status = current_app.config["PANIC"].status() or {}
    return status.get("insight") or {"state": "unknown", "reason": None}


@bp.app_context_processor
def _globals() -> dict[str, Any]:
    return {"insight_status": insight_status}


def _conn() -> sqlite3.Connection:
    return db.connect(current_app.config["PANIC"].database_path, readonly=True)


@bp.get("/api/runs/<run_id>/insight")
@read_required
def run_insight(run_id: str) -> ResponseReturnValue:
    """Per embedding model (``model=`` for one): a window of the run's points (drift, step, x, y,
    flags), the newest ``limit`` (default 200, at most 500), or those ``before`` / ``after`` a step
    (the ``older`` / ``newer`` cursors), every one placed in the current projection (its version:
    ``projection``); its prompt's point, how many points it has (``points_total``), the persistence
    diagram of its latest window, the mean step per hop over its newest 500 points, and the runs
    nearest it."""
    if current_app.config["READER"].run(run_id) is None:
        return jsonify(error=f"there is no run {run_id!r}"), 404
    names = current_app.config["PANIC"].model_names
    args = request.args
    try:
        limit = int(args.get("limit", db.POINTS_WINDOW))
    except ValueError:
        return jsonify(error="limit must be a whole number"), 400
    conn = _conn()
    problem: str | None = None
    try:
        models = db.run_insight(conn, run_id, limit, args.get("before"), args.get("after"), args.get("model"))
        for entry in models:
            hops, steps = db.recent_steps(conn, run_id, entry["embedding_model"])
            entry["hops"] = [{"hop": h.hop, "name": h.name, "mean_step": round(h.mean_step, 4), "steps": h.steps}
                             for h in hop_steps(hops, steps, names)]
    except CursorError as err:
        return jsonify(error=str(err)), 400
    except sqlite3.OperationalError as err:  # a database older than the insight tables
        models, problem = [], str(err)
    finally:
        conn.close()
    return jsonify(run_id=run_id, status=insight_status(), models=models, problem=problem)


@bp.get("/runs/<run_id>/like")
@read_required
def like(run_id: str) -> ResponseReturnValue:
    run = current_app.config["READER"].run(run_id)
    if run is None:
        abort(404)
    conn = _conn()
    try:
        similar = db.similar_runs(conn, run_id, limit=25)
    except sqlite3.OperationalError:
        similar = []
    finally:
        conn.close()
    return render_template("insight_like.html", run=run, similar=similar)
