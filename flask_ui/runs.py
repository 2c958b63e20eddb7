"""Run control from the page: start with a prompt, stop, stop all, restart from an invocation.

Actions are POST forms with a CSRF token; each ends in a redirect with a message (the
post/redirect/get pattern, so a reload never repeats an action).
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from flask_ui.auth import admin_required, control_or_503, safe_next
from panic_edge.errors import PanicEdgeError

bp = Blueprint("runs", __name__)


def _back(default: str = "pages.dashboard") -> ResponseReturnValue:
    return redirect(safe_next(request.form.get("back", ""), default))


@bp.get("/run")
@admin_required
def control_page() -> ResponseReturnValue:
    from flask import current_app

    settings = current_app.config["PANIC"]
    status = settings.status()
    return render_template("control.html", status=status,
                           chosen=request.args.get("network") or status.get("default_network"))


@bp.post("/run/start")
@admin_required
def start() -> ResponseReturnValue:
    network = request.form.get("network", "")
    try:
        run_id = control_or_503().start(network, request.form.get("prompt", ""))
        flash(f"started {network} (run {run_id[:8]})")
    except PanicEdgeError as err:
        flash(str(err), "error")
    return _back()


@bp.post("/run/stop")
@admin_required
def stop() -> ResponseReturnValue:
    network = request.form.get("network", "")
    try:
        flash(f"stopped {network}" if control_or_503().stop(network) else f"{network} was idle")
    except PanicEdgeError as err:
        flash(str(err), "error")
    return _back()


@bp.post("/run/stop-all")
@admin_required
def stop_all() -> ResponseReturnValue:
    stopped = control_or_503().stop_all()
    flash(f"stopped {', '.join(stopped)}" if stopped else "everything was already idle")
    return _back()


@bp.post("/run/restart")
@admin_required
def restart() -> ResponseReturnValue:
    try:
        network, run_id, prompt = control_or_503().restart_from(request.form.get("invocation", ""),
                                                                request.form.get("network") or None)
        short = prompt if len(prompt) <= 60 else prompt[:59] + "…"
        flash(f"restarted {network} from “{short}” (run {run_id[:8]})")
    except PanicEdgeError as err:
        flash(str(err), "error")
        return _back()
    return redirect(url_for("pages.dashboard"))
