"""Who may do what: the admin login, API tokens, CSRF and the login rate limit.

- Pages that change anything need a login (session cookie) or, under /api/, a bearer token.
- Read-only pages are open without login only when ``admin.public_readonly`` is set.
- Every POST/PUT/DELETE carries a CSRF token (Flask-WTF), except requests authenticated by a
  bearer token: a browser never sends that header by itself, so there is nothing to forge.
- Wrong passwords and wrong tokens slow down the client that sent them, never anyone else
  (ratelimit.Backoff); a valid token is never slowed by failed logins, and a long one (32+
  characters) never by wrong tokens either, whoever sent them from its address.
- Redirects after login go only to a plain path on this site (safe_next).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
import logging
import threading
import unicodedata
from collections.abc import Callable
from typing import TYPE_CHECKING, ParamSpec
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.security import check_password_hash

from flask_ui.ratelimit import Backoff

if TYPE_CHECKING:
    from panic_edge.daemon.control import Control

bp = Blueprint("auth", __name__)
csrf = CSRFProtect()
P = ParamSpec("P")
UNSAFE = ("POST", "PUT", "PATCH", "DELETE")
# scrypt takes ~32 MB and a core for a moment: two checks at a time, whoever floods the form
_PASSWORD_CHECKS = threading.BoundedSemaphore(2)
# a token this long (secrets.token_urlsafe(32) gives 43) cannot be guessed: the right one always
# passes, even from an address that others guess from; a shorter one waits out its address's backoff
UNGUESSABLE_TOKEN = 32
log = logging.getLogger("panic_edge.admin")


def init_app(app: Flask) -> None:
    settings = app.config["PANIC"]
    app.config["LIMITER"] = Backoff(settings.admin.login_attempts, settings.clock)  # passwords
    app.config["TOKEN_LIMITER"] = Backoff(settings.admin.login_attempts, settings.clock)
    token = settings.admin.api_token.get_secret_value()
    if token and len(token) < UNGUESSABLE_TOKEN:
        log.warning("admin.api_token is %d characters: a script using it waits out the backoff of its "
                    "address when others guess from there; use one of %d or more (python3 -c 'import "
                    "secrets; print(secrets.token_urlsafe(32))')", len(token), UNGUESSABLE_TOKEN)
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
        token = current_app.config["PANIC"].admin.api_token.get_secret_value().encode()
        offered = header[7:].strip().encode("utf-8", "replace")
        limiter: Backoff = current_app.config["TOKEN_LIMITER"]
        ok, wait = limiter.verify(_client(), lambda: bool(token) and hmac.compare_digest(offered, token),
                                  unguessable=len(token) >= UNGUESSABLE_TOKEN)
        if wait:
            return _too_many(wait)
        if not ok:
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
    """Whom failures are charged to: the client's address (after ProxyFix, when the page is
    behind trusted proxies), an IPv6 address by its /64 (one machine's usual share)."""
    address = request.remote_addr or "?"
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


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


def admin_required(view: Callable[P, ResponseReturnValue]) -> Callable[P, ResponseReturnValue]:
    """Only a logged-in admin (or a valid API token)."""
    @functools.wraps(view)
    def wrapped(*args: P.args, **kwargs: P.kwargs) -> ResponseReturnValue:
        if not g.admin:
            return _denied()
        return view(*args, **kwargs)
    return wrapped


def read_required(view: Callable[P, ResponseReturnValue]) -> Callable[P, ResponseReturnValue]:
    """An admin, or anyone when the config makes read-only pages public."""
    @functools.wraps(view)
    def wrapped(*args: P.args, **kwargs: P.kwargs) -> ResponseReturnValue:
        if not g.admin and not current_app.config["PANIC"].admin.public_readonly:
            return _denied()
        return view(*args, **kwargs)
    return wrapped


def safe_next(target: str | None, default: str = "pages.dashboard") -> str:
    """``target`` if it is a plain path on this site, else the ``default`` page. Refused: other
    sites (//evil.example, https://..., /\\evil.example) and any control, format or space
    character, since browsers drop tabs and newlines from a URL (/<TAB>/evil.example is
    //evil.example to them) and a lone surrogate cannot go in a header."""
    if (target and len(target) <= 4096 and target.startswith("/") and not target.startswith("//")
            and "\\" not in target and all(unicodedata.category(c)[0] not in "CZ" for c in target)):
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc:
            return target
    return url_for(default)


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    target = request.values.get("next", "")
    if request.method == "GET":
        return render_template("login.html", next=target, error=None)
    pw_hash = _password_hash()
    if not pw_hash:
        return render_template("login.html", next=target, error="logging in is off: set "
                               "admin.password_hash (panic-edge hash-password)"), 403
    limiter: Backoff = current_app.config["LIMITER"]
    client = _client()
    wait = limiter.attempt(client)  # charged as a failure now, refunded below if right
    if wait:
        return _too_many(wait)
    with _PASSWORD_CHECKS:
        right = check_password_hash(pw_hash, request.form.get("password", ""))
    if not right:
        return render_template("login.html", next=target, error="wrong password"), 401
    limiter.succeeded(client)
    session.clear()
    session.permanent = True
    session["admin"] = _fingerprint(pw_hash)
    return redirect(safe_next(target))


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    session.clear()
    flash("logged out")
    return redirect(url_for("auth.login"))


def control_or_503() -> Control:
    control: Control | None = current_app.config["PANIC"].control
    if control is None:
        abort(503, "the engine is not running")
    return control
