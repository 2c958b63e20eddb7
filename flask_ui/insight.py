"""Insight on the admin page: a run's geometry as JSON for its charts, and "runs like this one".

Reads the insight tables on read-only connections (``panic_edge.insight.db``); no numpy here, so
the page works whether or not the insight extra is installed, and says why insight is off.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from flask import Blueprint, abort, current_app, jsonify, render_template
from flask.typing import ResponseReturnValue

from flask_ui.auth import read_required
from panic_edge.core.insight import hop_steps
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
    """Per embedding model: the run's points (drift, step, x, y, flags), its prompt's point, the
    persistence diagram of its latest window, the mean step per hop, and the runs nearest it."""
    if current_app.config["READER"].run(run_id) is None:
        return jsonify(error=f"there is no run {run_id!r}"), 404
    names = current_app.config["PANIC"].model_names
    conn = _conn()
    problem: str | None = None
    try:
        models = db.run_insight(conn, run_id)
    except sqlite3.OperationalError as err:  # a database older than the insight tables
        models, problem = [], str(err)
    finally:
        conn.close()
    for entry in models:
        points = entry["points"]
        entry["hops"] = [{"hop": h.hop, "name": h.name, "mean_step": round(h.mean_step, 4), "steps": h.steps}
                         for h in hop_steps([p["hop"] for p in points], [p["step"] for p in points], names)]
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
