"""The networks: list, create, edit and delete network files, with the rapid-fire model picker."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from pydantic import ValidationError

from flask_ui.auth import admin_required, control_or_503, read_required
from panic_edge.core.model import Model
from panic_edge.core.network import DEFAULT_SAFETY_PROMPT, SLUG, Network, chain_errors
from panic_edge.core.pacing import parse_pacing_text
from panic_edge.errors import ConfigError, PanicEdgeError
from panic_edge.network_files import DEMO, NetworkFile, network_files

if TYPE_CHECKING:
    from flask_ui.app import Settings

bp = Blueprint("networks", __name__)


@dataclass(frozen=True)
class NetworkView:
    """One network as the page shows it: saved (a file), runnable, running."""

    slug: str
    network: Network | None  # None when its file cannot be read
    saved: bool  # a file in networks_dir (the built-in demo has none)
    problems: list[str]
    loaded: bool
    running: bool

    @property
    def runnable(self) -> bool:
        return self.network is not None and not self.problems


def network_from_fields(slug: str, fields: Mapping[str, Any]) -> Network:
    """A Network from submitted fields (a form or JSON). Raises ConfigError naming each field."""
    if not SLUG.match(slug):
        raise ConfigError(f"slug {slug!r} must be lowercase letters, digits and dashes "
                          "(starting with a letter or digit)")
    try:
        # an empty safety_prompt is a choice (placeholder at once); other empty fields take defaults
        spec = NetworkFile.model_validate({k: v for k, v in fields.items()
                                           if v not in (None, "") or (k == "safety_prompt" and v == "")})
    except ValidationError as err:
        raise ConfigError("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                                    for e in err.errors())) from None
    return spec.to_network(slug)


def _form_fields() -> dict[str, Any]:
    form = request.form
    prompts = [line.strip() for line in form.get("prompts", "").splitlines() if line.strip()]
    return {"name": form.get("name", "").strip(), "description": form.get("description", "").strip(),
            "models": [m for m in form.getlist("models") if m.strip()],
            "lockout_seconds": form.get("lockout_seconds") or None, "prompts": prompts or None,
            "offline_policy": form.get("offline_policy") or None,
            "about_url": form.get("about_url", "").strip(),
            "safety_prompt": form["safety_prompt"].strip() if "safety_prompt" in form else None,
            "pacing": parse_pacing_text(form["pacing"]) if form.get("pacing", "").strip() else None}


def views(catalogue: Mapping[str, Model]) -> dict[str, NetworkView]:
    settings = current_app.config["PANIC"]
    control = settings.control
    files = network_files(settings.networks_dir)
    found: dict[str, NetworkView] = {}
    if DEMO.slug not in files:
        found[DEMO.slug] = NetworkView(DEMO.slug, DEMO, False, [], True,
                                       bool(control and control.running(DEMO.slug)))
    for slug, item in files.items():
        if isinstance(item, Network):
            found[slug] = NetworkView(slug, item, True, chain_errors(item, catalogue),
                                      bool(control and control.loaded(slug) == item),
                                      bool(control and control.running(slug)))
        else:
            found[slug] = NetworkView(slug, None, True, [str(item)], False,
                                      bool(control and control.running(slug)))
    return dict(sorted(found.items()))


def _catalogue() -> Mapping[str, Model]:
    settings: Settings = current_app.config["PANIC"]
    return settings.catalogue


@bp.get("/networks")
@read_required
def index() -> ResponseReturnValue:
    return render_template("networks.html", views=views(_catalogue()),
                           editable=current_app.config["PANIC"].networks_dir is not None)


def _editor(view: NetworkView | None, network: Network | None, slug: str, is_new: bool,
            status: int = 200, problems: list[str] | None = None) -> ResponseReturnValue:
    catalogue = _catalogue()
    # the picker offers no deprecated model (one already in the chain stays, marked)
    models = sorted((m for m in catalogue.values() if not m.deprecated),
                    key=lambda m: (not m.is_local, m.input, m.id))
    return render_template("network_edit.html", view=view, network=network, slug=slug, is_new=is_new,
                           models=models, catalogue=catalogue, problems=problems or [],
                           default_safety_prompt=DEFAULT_SAFETY_PROMPT,
                           editable=current_app.config["PANIC"].networks_dir is not None), status


@bp.get("/networks/new")
@admin_required
def new() -> ResponseReturnValue:
    return _editor(None, None, "", True)


@bp.get("/networks/<slug>")
@read_required
def edit(slug: str) -> ResponseReturnValue:
    view = views(_catalogue()).get(slug)
    if view is None:
        abort(404)
    return _editor(view, view.network, slug, False)


@bp.post("/networks/save")
@admin_required
def save() -> ResponseReturnValue:
    slug = request.form.get("slug", "").strip()
    is_new = request.form.get("is_new") == "1"
    fields = _form_fields()
    existing = views(_catalogue()).get(slug)
    try:
        if is_new and existing is not None:
            raise ConfigError(f"a network {slug!r} already exists; choose another slug or edit it")
        network = network_from_fields(slug, fields)
        problems = control_or_503().save_network(network)
    except PanicEdgeError as err:
        draft = Network(slug or "new", fields["name"] or "", tuple(fields["models"]),
                        description=fields["description"], prompts=tuple(fields["prompts"] or ()),
                        safety_prompt=DEFAULT_SAFETY_PROMPT if fields["safety_prompt"] is None
                        else fields["safety_prompt"])
        return _editor(existing, draft, slug, is_new, 400, [str(err)])
    if problems:
        flash(f"saved {slug}, but it cannot run yet: " + "; ".join(problems), "error")
    else:
        flash(f"saved {slug}; it is loaded and ready to run")
    return redirect(url_for("networks.edit", slug=slug))


@bp.post("/networks/<slug>/delete")
@admin_required
def delete(slug: str) -> ResponseReturnValue:
    try:
        control_or_503().delete_network(slug)
        flash(f"deleted {slug}")
    except PanicEdgeError as err:
        flash(str(err), "error")
        return redirect(url_for("networks.edit", slug=slug))
    return redirect(url_for("networks.index"))
