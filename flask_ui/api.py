"""The JSON API. Reading status and recent invocations is open (display nodes fetch these);
everything else needs a login or ``Authorization: Bearer <admin.api_token>``, with the same
checks as the pages (CSRF for a browser session, the failed-attempt rate limit for tokens)."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from flask import Blueprint, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from flask_ui.auth import admin_required, control_or_503, read_required
from panic_edge.core.catalogue import describe
from panic_edge.core.invocation import invocation_message
from panic_edge.core.network import Network, chain_errors
from panic_edge.errors import (
    CommandError,
    ConfigError,
    CursorError,
    LockoutError,
    PanicEdgeError,
    StartBudgetError,
)
from panic_edge.store import queries
from panic_edge.store.queries import RunSummary

bp = Blueprint("api", __name__, url_prefix="/api")


@bp.errorhandler(PanicEdgeError)
def _refused(err: PanicEdgeError) -> ResponseReturnValue:
    """The one place API errors become answers: what was wrong, and a status to match."""
    code = 409 if isinstance(err, CommandError) else 400
    body: dict[str, Any] = {"error": str(err)}
    if isinstance(err, (LockoutError, StartBudgetError)):
        body["retry_after"] = round(err.remaining, 1)
    return jsonify(body), code


def request_json(optional: bool = False) -> dict[str, Any]:
    """The request's JSON object. Refused (ConfigError, a 400): not JSON, not an object, nested
    too deep, or holding strings that are not valid unicode (lone surrogates from \\ud800
    escapes, which SQLite and every reply would choke on). ``optional``: no body is {}."""
    if optional and not request.get_data(cache=True):
        return {}
    try:
        body = request.get_json(silent=True)
        json.dumps(body, ensure_ascii=False).encode("utf-8")
    except RecursionError:
        raise ConfigError("the JSON is nested too deep") from None
    except UnicodeEncodeError:
        raise ConfigError("the JSON holds text that is not valid unicode (a lone surrogate)") from None
    if not isinstance(body, dict):
        raise ConfigError("send a JSON object (Content-Type: application/json)")
    return body


def json_string(body: dict[str, Any], key: str, default: str = "") -> str:
    value = body.get(key, default)
    if not isinstance(value, str):
        raise ConfigError(f'"{key}" must be a string')
    return value


def _message(inv: Any) -> dict[str, Any]:
    settings = current_app.config["PANIC"]
    return invocation_message(inv, settings.model_label(inv.model), settings.media_base)


# --- open: the display-node contract -------------------------------------------------------------


@bp.get("/status")
def status() -> ResponseReturnValue:
    return jsonify(current_app.config["PANIC"].status())


@bp.get("/networks/<slug>/invocations")
def recent(slug: str) -> ResponseReturnValue:
    """The network's newest invocations (``limit``, default 16), newest first; ``before=<older>``
    pages back, ``after=<newer>`` gives those that came since (oldest of them first in the list's
    newest-first order: the window just after the cursor)."""
    try:
        limit = max(1, min(int(request.args.get("limit", 16)), 500))
    except ValueError:
        return jsonify(error="limit must be a whole number"), 400
    window = current_app.config["READER"].read(queries.network_window, slug, limit, request.args.get("before"),
                                               request.args.get("after"))
    return jsonify(invocations=[_message(inv) for inv in window.items], older=window.older, newer=window.newer)


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    return jsonify(ok=True)


# --- read -----------------------------------------------------------------------------------------


def _network_json(view: Any) -> dict[str, Any]:
    net: Network | None = view.network
    return {"slug": view.slug, "saved": view.saved, "runnable": view.runnable, "loaded": view.loaded,
            "running": view.running, "problems": view.problems,
            "network": None if net is None else {
                "name": net.name, "description": net.description, "models": list(net.models),
                "lockout_seconds": net.lockout_seconds, "prompts": list(net.prompts),
                "offline_policy": net.offline_policy, "about_url": net.about_url,
                "safety_prompt": net.safety_prompt}}


@bp.get("/networks")
@read_required
def networks() -> ResponseReturnValue:
    from flask_ui.networks import views

    return jsonify(networks=[_network_json(v) for v in views(current_app.config["PANIC"].catalogue).values()])


@bp.get("/networks/check")
@read_required
def check() -> ResponseReturnValue:
    """The picker's live check: ?models=a,b,c gives the type chain and every reason it cannot run."""
    catalogue = current_app.config["PANIC"].catalogue
    models = tuple(m for m in request.args.get("models", "").split(",") if m)
    slug = request.args.get("slug") or "draft"
    problems = chain_errors(Network(slug, slug, models), catalogue)
    chain = [{"id": m, "name": catalogue[m].label, "input": str(catalogue[m].input),
              "output": str(catalogue[m].output), "deprecated": catalogue[m].deprecated}
             if m in catalogue else {"id": m, "unknown": True, "name": describe(catalogue, m).label}
             for m in models]
    return jsonify(runnable=not problems, problems=problems, chain=chain)


@bp.get("/models")
@read_required
def models() -> ResponseReturnValue:
    settings = current_app.config["PANIC"]
    platforms = settings.platforms
    return jsonify(models=[{
        "id": m.id, "name": m.label, "platform": m.platform, "input": str(m.input), "output": str(m.output),
        "description": m.description, "warmth": str(m.hints.warmth), "typical_seconds": m.hints.typical_seconds,
        "ready": platforms.available(m.platform) if platforms else m.is_local, "deprecated": m.deprecated}
        for m in settings.catalogue.values()])


def _limit(default: int) -> int:
    return max(1, min(request.args.get("limit", default, type=int), 500))


def _summary_json(s: RunSummary) -> dict[str, Any]:
    return {**asdict(s.run), "invocations": s.invocations, "failed": s.failed, "cost_usd": s.cost_usd,
            "predict_time": s.predict_time, "seconds": s.seconds}


@bp.get("/runs")
@read_required
def runs() -> ResponseReturnValue:
    """Runs, newest first (``limit``, default 50); ``before=<older>`` / ``after=<newer>`` page."""
    if "offset" in request.args:
        raise CursorError("offset is not supported: page with before=<older> / after=<newer>")
    window = current_app.config["READER"].run_summaries(_limit(50), request.args.get("before"),
                                                       request.args.get("after"))
    return jsonify(runs=[_summary_json(s) for s in window.items], older=window.older, newer=window.newer)


@bp.get("/runs/<run_id>")
@read_required
def run(run_id: str) -> ResponseReturnValue:
    """A run with its totals and its newest steps first (``limit``, default 50); ``before=<older>``
    / ``after=<newer>`` page through the rest."""
    reader = current_app.config["READER"]
    summary = reader.run_summary(run_id)
    if summary is None:
        return jsonify(error=f"there is no run {run_id!r}"), 404
    window = reader.run_window(run_id, _limit(50), request.args.get("before"), request.args.get("after"))
    return jsonify(run=_summary_json(summary), invocations=[_message(i) for i in window.items],
                   older=window.older, newer=window.newer)


# --- actions --------------------------------------------------------------------------------------


@bp.post("/networks/<slug>/start")
@admin_required
def start(slug: str) -> ResponseReturnValue:
    run_id = control_or_503().start(slug, json_string(request_json(), "prompt"))
    return jsonify(ok=True, network=slug, run_id=run_id)


@bp.post("/networks/<slug>/stop")
@admin_required
def stop(slug: str) -> ResponseReturnValue:
    return jsonify(ok=True, network=slug, stopped=control_or_503().stop(slug))


@bp.post("/stop-all")
@admin_required
def stop_all() -> ResponseReturnValue:
    return jsonify(ok=True, stopped=control_or_503().stop_all())


@bp.post("/invocations/<invocation_id>/restart")
@admin_required
def restart(invocation_id: str) -> ResponseReturnValue:
    network, run_id, prompt = control_or_503().restart_from(invocation_id,
                                                            json_string(request_json(optional=True), "network") or None)
    return jsonify(ok=True, network=network, run_id=run_id, prompt=prompt)


@bp.put("/networks/<slug>")
@admin_required
def put_network(slug: str) -> ResponseReturnValue:
    from flask_ui.networks import network_from_fields

    network = network_from_fields(slug, request_json())
    problems = control_or_503().save_network(network)
    return jsonify(ok=True, slug=slug, saved=True, runnable=not problems, problems=problems)


@bp.delete("/networks/<slug>")
@admin_required
def delete_network(slug: str) -> ResponseReturnValue:
    control_or_503().delete_network(slug)
    return jsonify(ok=True, slug=slug, deleted=True)


@bp.get("/backup")
@admin_required
def backup_download() -> ResponseReturnValue:
    from flask_ui.backups import snapshot_response

    return snapshot_response()


@bp.post("/restore")
@admin_required
def restore() -> ResponseReturnValue:
    from flask_ui.backups import restore_upload

    info, kept = restore_upload(request.files.get("backup"))
    return jsonify(ok=True, runs=info.runs, invocations=info.invocations, schema_version=info.schema_version,
                   previous=kept.name if kept else None)
