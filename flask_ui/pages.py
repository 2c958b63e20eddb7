"""The read-only pages: dashboard, history, one run, the model catalogue."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, render_template, request
from flask.typing import ResponseReturnValue

from flask_ui.auth import read_required
from panic_edge.errors import CursorError

bp = Blueprint("pages", __name__)
HISTORY_PAGE = 25  # runs per history page
RUN_PAGE = 50  # steps per run page


def _settings() -> Any:
    return current_app.config["PANIC"]


def current_invocations(status: dict[str, Any], per_run: int = 12) -> list[Any]:
    """The newest invocations of every run in progress, newest first (a window of each run)."""
    reader = current_app.config["READER"]
    found = []
    for net in status.get("networks", {}).values():
        if net.get("run_id"):
            found += reader.run_window(net["run_id"], per_run).items
    return sorted(found, key=lambda inv: inv.created_at, reverse=True)


@bp.get("/")
@read_required
def dashboard() -> ResponseReturnValue:
    settings = _settings()
    status = settings.status()
    return render_template("dashboard.html", status=status, invocations=current_invocations(status),
                           catalogue=settings.catalogue)


@bp.get("/history")
@read_required
def history() -> ResponseReturnValue:
    """Runs, newest first, 25 at a time: ``?before=<cursor>`` older, ``?after=<cursor>`` newer."""
    window = current_app.config["READER"].run_summaries(HISTORY_PAGE, request.args.get("before"),
                                                        request.args.get("after"))
    return render_template("history.html", summaries=window.items, window=window)


@bp.get("/runs/<run_id>")
@read_required
def run(run_id: str) -> ResponseReturnValue:
    """A run's newest steps first, 50 at a time: ``?before=<step>`` older, ``?after=<step>`` newer."""
    reader = current_app.config["READER"]
    summary = reader.run_summary(run_id)
    if summary is None:
        abort(404)
    window = reader.run_window(run_id, RUN_PAGE, request.args.get("before"), request.args.get("after"))
    return render_template("run.html", run=summary.run, summary=summary, invocations=window.items,
                           window=window, catalogue=_settings().catalogue)


@bp.errorhandler(CursorError)
def _bad_cursor(err: CursorError) -> ResponseReturnValue:
    """A hand-edited ``before`` / ``after``: say so, rather than guess a page."""
    return render_template("error.html", message=str(err)), 400


@bp.get("/models")
@read_required
def models() -> ResponseReturnValue:
    settings = _settings()
    platforms = settings.platforms
    show_all = request.args.get("all") == "1"
    used_only = request.args.get("used") == "1"  # only the models of the loaded networks
    hidden = sum(1 for m in settings.catalogue.values() if m.deprecated)
    status = settings.status()
    warmth, prewarm = status.get("models_warm") or {}, status.get("prewarm") or {}
    rows = []
    for model in sorted(settings.catalogue.values(), key=lambda m: (m.io(), not m.is_local, m.id)):
        if (model.deprecated and not show_all) or (used_only and model.id not in warmth):
            continue
        ready = platforms.available(model.platform) if platforms else model.is_local
        why = "" if ready else (platforms.why_missing(model.platform) if platforms else "unknown")
        # a model no loaded network uses is not followed: its badge is the catalogue's hint
        rows.append((model, ready, why, warmth.get(model.id, str(model.hints.warmth)), model.id in warmth))
    return render_template("models.html", rows=rows, hidden=hidden, show_all=show_all, prewarm=prewarm,
                           used_only=used_only)
