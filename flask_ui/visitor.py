"""Visitors' phones: a network's prompt page, opened by the QR code beside the installation.

- ``GET /visit/<slug>?t=<pass>``: the page, without an admin login. The pass (core.visit) must be
  this network's and not expired; otherwise a friendly page says to scan the code again.
- ``POST /visit/<slug>``: a prompt. Rate limited per phone (client address) and per network, then
  started through the engine's own start path: the network's lockout (and every other rule of a
  start) applies, exactly as for the panic button or ``panic-edge start``.
- ``GET /visit/<slug>/state?t=<pass>``: what the page shows, for its script to keep it live.
- ``GET /networks/<slug>/qr``: the admin's printable QR code (``?hours=`` up to 12 for a sheet
  that lasts an opening day).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from markupsafe import Markup

from flask_ui.auth import admin_required, control_or_503
from flask_ui.ratelimit import SlidingWindow
from panic_edge.core.visit import Verdict, VisitPass, VisitPasses, visit_url
from panic_edge.errors import LockoutError, PanicEdgeError

bp = Blueprint("visitor", __name__)
MAX_PRINT_HOURS = 12


def init_app(app: Flask) -> None:
    settings = app.config["PANIC"]
    app.config["VISIT_PASSES"] = VisitPasses(app.secret_key)  # type: ignore[arg-type]  # create_app set it (bytes)
    visitors = settings.visitors
    app.config["VISIT_CLIENTS"] = SlidingWindow(visitors.client_starts_per_minute, 60, settings.clock)
    app.config["VISIT_NETWORKS"] = SlidingWindow(visitors.network_starts_per_minute, 60, settings.clock)


def issue_link(app: Flask, network: str, base: str, seconds: float | None = None) -> tuple[str, VisitPass]:
    """A fresh pass to ``network`` and the prompt page's URL under ``base``: what a QR code shows.
    Also called by the daemon for the screens (through the retained status)."""
    settings = app.config["PANIC"]
    passes: VisitPasses = app.config["VISIT_PASSES"]
    issued = passes.issue(network, settings.now(), seconds or settings.visitors.token_minutes * 60)
    return visit_url(base, issued), issued


def qr_svg(url: str) -> Markup:
    """The QR code of ``url`` as inline SVG (no script, no style attribute)."""
    import qrcode
    import qrcode.image.svg

    code = qrcode.QRCode(border=2, error_correction=qrcode.constants.ERROR_CORRECT_M,
                         image_factory=qrcode.image.svg.SvgPathImage)
    code.add_data(url)
    code.make(fit=True)
    return Markup(code.make_image().to_string(encoding="unicode"))


# --- the visitor's page -----------------------------------------------------------------------


@dataclass(frozen=True)
class Scene:
    """What the page shows of a network: its name, state, lockout and the current run's prompt."""

    slug: str
    name: str
    description: str
    running: bool
    lockout_until: float | None
    prompt: str | None

    def as_json(self, now: float) -> dict[str, Any]:
        return {"network": self.slug, "name": self.name, "running": self.running,
                "lockout_until": self.lockout_until, "prompt": self.prompt, "server_now": now}


def _scene(slug: str) -> Scene | None:
    settings = current_app.config["PANIC"]
    net = settings.status().get("networks", {}).get(slug)
    if not isinstance(net, dict):
        return None
    prompt = None
    if net.get("run_id"):
        run = current_app.config["READER"].run(net["run_id"])
        prompt = run.prompt if run is not None else None
    loaded = settings.control.loaded(slug) if settings.control is not None else None
    return Scene(slug, str(net.get("name") or slug), loaded.description if loaded else "",
                 net.get("state") == "running", net.get("lockout_until"), prompt)


def _enabled() -> None:
    if not current_app.config["PANIC"].visitors.enabled:
        abort(404)


def _refused(slug: str, verdict: Verdict) -> ResponseReturnValue:
    return render_template("visit_expired.html", slug=slug, verdict=verdict.value), 403


def _checked(slug: str, token: str) -> tuple[Scene | None, ResponseReturnValue | None]:
    """The network's scene if ``token`` opens it, else the response to send instead."""
    _enabled()
    settings = current_app.config["PANIC"]
    verdict = current_app.config["VISIT_PASSES"].check(token, slug, settings.now())
    if verdict is not Verdict.OK:
        return None, _refused(slug, verdict)
    scene = _scene(slug)
    if scene is None:
        return None, (render_template("visit_expired.html", slug=slug, verdict="no network"), 404)
    return scene, None


@bp.get("/visit/<slug>")
def page(slug: str) -> ResponseReturnValue:
    token = request.args.get("t", "")
    scene, refusal = _checked(slug, token)
    if refusal is not None:
        return refusal
    now = current_app.config["PANIC"].now()
    return render_template("visit.html", scene=scene, token=token, now=now)


@bp.get("/visit/<slug>/state")
def state(slug: str) -> ResponseReturnValue:
    scene, refusal = _checked(slug, request.args.get("t", ""))
    if refusal is not None:
        return jsonify(error="this page's pass has expired; scan the code again"), 403
    assert scene is not None
    return jsonify(scene.as_json(current_app.config["PANIC"].now()))


@bp.post("/visit/<slug>")
def start(slug: str) -> ResponseReturnValue:
    token = request.form.get("t", "")
    scene, refusal = _checked(slug, token)
    if refusal is not None:
        return refusal
    back = redirect(url_for("visitor.page", slug=slug, t=token))
    prompt = request.form.get("prompt", "").strip()
    if not prompt:
        flash("type a prompt first", "error")
        return back
    clients: SlidingWindow = current_app.config["VISIT_CLIENTS"]
    networks: SlidingWindow = current_app.config["VISIT_NETWORKS"]
    client = request.remote_addr or "?"
    wait = clients.take(client)
    if not wait:
        wait = networks.take(slug)
        if wait:
            clients.give_back(client)  # refused for the network's sake: the phone's prompt did not count
    if wait:
        response = current_app.make_response(render_template(
            "visit.html", scene=scene, token=token, now=current_app.config["PANIC"].now(), prompt=prompt,
            error=f"so many prompts at once! try again in {wait:.0f} s"))
        response.status_code = 429
        response.headers["Retry-After"] = str(int(wait) + 1)
        return response
    try:
        control_or_503().start_as_visitor(slug, prompt)
    except LockoutError as err:
        flash(f"another visitor's prompt is still running: yours can start in {err.remaining:.0f} s", "error")
        return back
    except PanicEdgeError as err:
        flash(str(err), "error")
        return back
    flash("your prompt is on its way: watch the screens!")
    return back


# --- the admin's printable code ---------------------------------------------------------------


@bp.get("/networks/<slug>/qr")
@admin_required
def printable(slug: str) -> ResponseReturnValue:
    _enabled()
    scene = _scene(slug)
    if scene is None:
        abort(404)
    hours = max(1, min(request.args.get("hours", 1, type=int) or 1, MAX_PRINT_HOURS))
    settings = current_app.config["PANIC"]
    base = settings.public_url or request.host_url
    seconds = hours * 3600 if "hours" in request.args else None
    app = current_app._get_current_object()  # type: ignore[attr-defined]  # Flask types the proxy as the app
    url, issued = issue_link(app, slug, base, seconds)
    until = time.strftime("%H:%M", time.localtime(issued.expires_at))
    return render_template("visit_print.html", scene=scene, url=url, qr=qr_svg(url), until=until,
                           hours=hours, max_hours=MAX_PRINT_HOURS, public_url=settings.public_url)
