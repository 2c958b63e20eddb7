"""Who may do what: the admin login, API tokens, CSRF and the login rate limit.

- Pages that change anything need a login (session cookie) or, under /api/, a bearer token.
- Read-only pages are open without login only when ``admin.public_readonly`` is set.
- Every POST/PUT/DELETE carries a CSRF token (Flask-WTF), except requests authenticated by a
  bearer token: a browser never sends that header by itself, so there is nothing to forge.
- Failed logins and bad tokens are counted per client address (ratelimit.FailureLimiter).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from collections.abc import Callable
from typing import Any, TypeVar

from flask import (Blueprint, Flask, abort, current_app, flash, g, jsonify, redirect, render_template,
                   request, session, url_for)
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.security import check_password_hash

from flask_ui.ratelimit import FailureLimiter

bp = Blueprint("auth", __name__)
csrf = CSRFProtect()
F = TypeVar("F", bound=Callable[..., Any])
UNSAFE = ("POST", "PUT", "PATCH", "DELETE")


def init_app(app: Flask) -> None:
    settings = app.config["PANIC"]
    app.config["LIMITER"] = FailureLimiter(settings.admin.login_attempts, 300, settings.clock)
    csrf.init_app(app)
    app.before_request(_identify)
    app.register_error_handler(CSRFError, _csrf_failed)
    app.context_processor(lambda: {"is_admin": g.get("admin", False),
                                   "public": settings.admin.public_readonly,
                                   "login_enabled": bool(_password_hash())})


def _password_hash() -> str:
    return str(current_app.config["PANIC"].admin.password_hash.get_secret_value())


def _fingerprint(password_hash: str) -> str:
    """Stored in the session, so changing the password logs every browser out."""
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


def is_api() -> bool:
    return request.path.startswith("/api/") or request.path == "/events"


def _identify() -> ResponseReturnValue | None:
    """Before every request: who is asking (g.admin, g.via_token), and the CSRF check."""
    g.admin, g.via_token = False, False
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        limiter: FailureLimiter = current_app.config["LIMITER"]
        wait = limiter.retry_after(_client())
        if wait:
            return _too_many(wait)
        token = current_app.config["PANIC"].admin.api_token.get_secret_value()
        if not token or not hmac.compare_digest(header[7:].strip().encode(), token.encode()):
            limiter.failed(_client())
            return jsonify(error="bad API token"), 401
        g.admin = g.via_token = True
        return None
    pw_hash = _password_hash()
    if pw_hash and session.get("admin") == _fingerprint(pw_hash):
        g.admin = True
    # an anonymous API call is refused with 401 by the view; everything else that changes
    # anything (the login form too) must carry the token
    if request.method in UNSAFE and (g.admin or not is_api()):
        csrf.protect()
    return None


def _client() -> str:
    return request.remote_addr or "?"


def _too_many(wait: float) -> ResponseReturnValue:
    message = f"too many failed attempts; try again in {wait:.0f} s"
    if is_api():
        response = jsonify(error=message)
    else:
        response = current_app.make_response(render_template("login.html", error=message,
                                                             next=request.args.get("next", "")))
    response.status_code = 429
    response.headers["Retry-After"] = str(int(wait) + 1)
    return response


def _csrf_failed(err: CSRFError) -> ResponseReturnValue:
    message = f"{err.description} Reload the page and try again."
    if is_api():
        return jsonify(error=message), 400
    return render_template("error.html", message=message), 400


def _denied() -> ResponseReturnValue:
    if is_api():
        return jsonify(error="log in, or send Authorization: Bearer <admin.api_token>"), 401
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


def admin_required(view: F) -> F:
    """Only a logged-in admin (or a valid API token)."""
    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not g.admin:
            return _denied()
        return view(*args, **kwargs)
    return wrapped  # type: ignore[return-value]


def read_required(view: F) -> F:
    """An admin, or anyone when the config makes read-only pages public."""
    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not g.admin and not current_app.config["PANIC"].admin.public_readonly:
            return _denied()
        return view(*args, **kwargs)
    return wrapped  # type: ignore[return-value]


def _safe_next(target: str | None) -> str:
    """Only a path on this site: never //evil.example or https://..."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("pages.dashboard")


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    target = request.values.get("next", "")
    if request.method == "GET":
        return render_template("login.html", next=target, error=None)
    limiter: FailureLimiter = current_app.config["LIMITER"]
    wait = limiter.retry_after(_client())
    if wait:
        return _too_many(wait)
    pw_hash = _password_hash()
    if not pw_hash:
        return render_template("login.html", next=target, error="logging in is off: set "
                               "admin.password_hash (panic-edge hash-password)"), 403
    if not check_password_hash(pw_hash, request.form.get("password", "")):
        limiter.failed(_client())
        return render_template("login.html", next=target, error="wrong password"), 401
    session.clear()
    session.permanent = True
    session["admin"] = _fingerprint(pw_hash)
    return redirect(_safe_next(target))


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    session.clear()
    flash("logged out")
    return redirect(url_for("auth.login"))


def control_or_503() -> Any:
    control = current_app.config["PANIC"].control
    if control is None:
        abort(503, "the engine is not running")
    return control
