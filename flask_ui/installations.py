"""Installations on the admin page: list, edit (add / edit / reorder / remove screens), switch network.

Also each screen's stable short URL, ``/s/<name>``: a TV's browser (or anyone on the LAN) opens
it and sees that screen, drawn by the same selection rules as a screen node (nodes/feed.py).
It is open like the display nodes' API: it shows what the gallery shows anyway.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from flask import Blueprint, abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.datastructures import MultiDict

from flask_ui.api import json_string, request_json
from flask_ui.auth import admin_required, control_or_503, read_required
from panic_edge.core.installation import (
    KINDS,
    SCREEN_TYPES,
    GridScreen,
    Installation,
    SingleScreen,
    find_screen,
    parse_installation,
)
from panic_edge.core.invocation import invocation_message
from panic_edge.errors import CommandError, PanicEdgeError
from panic_edge.nodes.feed import Feed, selection_of
from panic_edge.nodes.messages import Shown, parse_invocation

bp = Blueprint("installations", __name__)


def _settings() -> Any:
    return current_app.config["PANIC"]


def _all() -> tuple[Installation, ...]:
    return tuple(_settings().installations())


def _networks() -> dict[str, str]:
    """The networks an installation can follow: slug -> name (those the daemon has loaded)."""
    return {slug: net.get("name", slug) for slug, net in _settings().status().get("networks", {}).items()}


def installation_fields(form: MultiDict[str, str]) -> dict[str, Any]:
    """An installation's fields from the editor's form. Each screen is a group of ``s-<i>-<key>``
    fields, listed in page order by the ``screen`` inputs; only its kind's settings are taken."""
    screens = []
    for i in form.getlist("screen"):
        kind = form.get(f"s-{i}-kind", "")
        fields: dict[str, Any] = {"name": form.get(f"s-{i}-name", "").strip(), "kind": kind}
        for key, spec in (SCREEN_TYPES[kind].model_fields.items() if kind in SCREEN_TYPES else ()):
            if key in fields:
                continue
            if spec.annotation is bool:
                fields[key] = form.get(f"s-{i}-{key}") == "on"
            elif form.get(f"s-{i}-{key}", "").strip():
                fields[key] = form.get(f"s-{i}-{key}", "").strip()
        screens.append(fields)
    return {"name": form.get("name", "").strip(), "network": form.get("network", "").strip(),
            "screens": screens}


def _editor(installation: Mapping[str, Any] | None, previous: str | None, problems: list[str] | None = None,
            status: int = 200) -> ResponseReturnValue:
    return render_template("installation_edit.html", inst=installation, previous=previous, kinds=KINDS,
                           networks=_networks(), problems=problems or [],
                           online=set(_settings().status().get("screens_online", []))), status


# --- pages -----------------------------------------------------------------------------------------


@bp.get("/installations")
@read_required
def index() -> ResponseReturnValue:
    control = _settings().control
    source = control.installations.loaded.source if control and control.installations else "config"
    return render_template("installations.html", installations=_all(), networks=_networks(), source=source,
                           online=set(_settings().status().get("screens_online", [])))


@bp.get("/installations/new")
@admin_required
def new() -> ResponseReturnValue:
    return _editor(None, None)


@bp.get("/installations/<name>")
@read_required
def edit(name: str) -> ResponseReturnValue:
    inst = next((i for i in _all() if i.name == name), None)
    if inst is None:
        abort(404)
    return _editor(inst.as_json(), name)


@bp.post("/installations/save")
@admin_required
def save() -> ResponseReturnValue:
    fields = installation_fields(request.form)
    previous = request.form.get("previous") or None
    try:
        control_or_503().save_installation(parse_installation(fields), previous)
    except PanicEdgeError as err:
        return _editor(fields, previous, [str(err)], 400)
    flash(f"saved {fields['name']}; its screens follow {fields['network']}")
    return redirect(url_for("installations.edit", name=fields["name"]))


def _act(action: Callable[[], object], done: str) -> ResponseReturnValue:
    """Do ``action`` on the daemon; flash ``done`` or why it was refused; back to the list."""
    try:
        action()
        flash(done)
    except PanicEdgeError as err:
        flash(str(err), "error")
    return redirect(url_for("installations.index"))


@bp.post("/installations/<name>/switch")
@admin_required
def switch(name: str) -> ResponseReturnValue:
    network = request.form.get("network", "")
    return _act(lambda: control_or_503().switch_installation(name, network),
                f"switched {name} to {network}: its screens follow now")


@bp.post("/installations/<name>/delete")
@admin_required
def delete(name: str) -> ResponseReturnValue:
    return _act(lambda: control_or_503().delete_installation(name), f"deleted {name}")


@bp.post("/installations/use-config")
@admin_required
def use_config() -> ResponseReturnValue:
    return _act(lambda: control_or_503().installations_from_config(),
                "back to the config file's [[installations]]")


# --- JSON --------------------------------------------------------------------------------------------


@bp.get("/api/installations")
@read_required
def api_list() -> ResponseReturnValue:
    return jsonify(installations=[i.as_json() for i in _all()])


@bp.put("/api/installations/<name>")
@admin_required
def api_put(name: str) -> ResponseReturnValue:
    body = request_json()
    inst = parse_installation({**body, "name": body.get("name", name)})
    exists = any(i.name == name for i in _all())
    control_or_503().save_installation(inst, name if exists else None)
    return jsonify(ok=True, installation=inst.as_json())


@bp.post("/api/installations/<name>/switch")
@admin_required
def api_switch(name: str) -> ResponseReturnValue:
    body = request_json(optional=True)
    moved = control_or_503().switch_installation(name, json_string(body, "network"))
    return jsonify(ok=True, installation=moved.as_json())


@bp.delete("/api/installations/<name>")
@admin_required
def api_delete(name: str) -> ResponseReturnValue:
    control_or_503().delete_installation(name)
    return jsonify(ok=True, deleted=name)


@bp.errorhandler(PanicEdgeError)
def _refused(err: PanicEdgeError) -> ResponseReturnValue:
    """The JSON routes' errors (the pages catch their own): what was wrong, and a status to match."""
    return jsonify(error=str(err)), 409 if isinstance(err, CommandError) else 400


# --- the short URL: /s/<screen> ------------------------------------------------------------------------


def screen_cells(network: str, screen: SingleScreen | GridScreen) -> tuple[Shown | None, ...]:
    """What the screen shows now, by the screen nodes' own rules, from the recent invocations."""
    selection = selection_of(screen)
    settings = _settings()
    recent = current_app.config["READER"].recent_invocations(network, max(16, 2 * selection.backfill))
    feed = Feed(network, capacity=max(64, 4 * selection.backfill))
    for inv in reversed(recent):
        feed.apply(parse_invocation(invocation_message(inv, settings.model_label(inv.model), "")))
    return selection.select(feed)


def _found(name: str) -> tuple[Installation, Any]:
    found = find_screen(_all(), name)
    if found is None:
        abort(404, f"there is no screen {name!r} in any installation")
    return found


@bp.get("/s/<name>")
def screen_page(name: str) -> ResponseReturnValue:
    inst, screen = _found(name)
    return render_template("screen.html", inst=inst, screen=screen,
                           network_name=_networks().get(inst.network, inst.network),
                           online=name in _settings().status().get("screens_online", []))


@bp.get("/s/<name>/cells")
def screen_fragment(name: str) -> ResponseReturnValue:
    inst, screen = _found(name)
    if not isinstance(screen, (SingleScreen, GridScreen)):
        abort(404, f"screen {name!r} is a {screen.kind}: it has no picture to show")
    return render_template("screen_cells.html", screen=screen, cells=screen_cells(inst.network, screen))
