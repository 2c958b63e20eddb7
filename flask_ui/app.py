"""The Flask app, flaskr-shaped: ``create_app(settings)``, blueprints, a test client in tests."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from panic_edge.config import AdminConfig, VisitorsConfig
from panic_edge.core.catalogue import CATALOGUE, describe
from panic_edge.core.model import Model
from panic_edge.private_files import write_private
from panic_edge.store.reader import Reader

if TYPE_CHECKING:
    from panic_edge.core.installation import Installation
    from panic_edge.daemon.control import Control
    from panic_edge.daemon.hub import Hub
    from panic_edge.platforms.base import Platforms


@dataclass
class Settings:
    """What the web app needs from the daemon. ``status`` returns the live appliance status;
    ``control`` (the engine, for actions) and ``hub`` (live events) are set once the engine runs."""

    archive_dir: Path
    database_path: Path
    media_base: str = ""
    status: Callable[[], dict[str, Any]] = field(default=dict)
    model_names: dict[str, str] = field(default_factory=dict)
    admin: AdminConfig = field(default_factory=AdminConfig)
    catalogue: Mapping[str, Model] = field(default_factory=lambda: CATALOGUE)
    platforms: Platforms | None = None
    networks_dir: Path | None = None
    secret_key_path: Path | None = None  # where the session-signing key is kept across restarts
    control: Control | None = None
    hub: Hub | None = None
    clock: Callable[[], float] = time.monotonic  # for the login rate limit
    installations: Callable[[], tuple[Installation, ...]] = field(default=lambda: ())
    visitors: VisitorsConfig = field(default_factory=VisitorsConfig)
    public_url: str = ""  # http.public_url: where phones reach the appliance, if configured
    now: Callable[[], float] = time.time  # wall clock, for visitor passes
    fleet: Callable[[], dict[str, Any]] | None = None  # every appliance on the broker ([fleet] enabled)

    def model_label(self, model_id: str) -> str:
        """The name pages and messages show: "Unknown model (id)" for one the catalogue lost."""
        return self.model_names.get(model_id) or describe(self.catalogue, model_id).label


def _secret_key(path: Path | None) -> bytes:
    """The key that signs login cookies: kept in a 0600 file so logins survive a restart. A
    missing or short (torn by a power cut) file is replaced with a new key."""
    if path is None:
        return secrets.token_bytes(32)
    try:
        key = path.read_bytes()
        if len(key) >= 32:
            return key
    except FileNotFoundError:
        pass
    key = secrets.token_bytes(32)
    write_private(path, key)
    return key


def create_app(settings: Settings) -> Flask:
    app = Flask(__name__)
    app.config["PANIC"] = settings
    app.config["READER"] = Reader(settings.database_path)
    app.config.update(
        SECRET_KEY=_secret_key(settings.secret_key_path),
        SESSION_COOKIE_NAME="panic_admin",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.admin.secure_cookie,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=settings.admin.session_hours),
        MAX_CONTENT_LENGTH=512 * 1024 * 1024,  # a restored database upload
        WTF_CSRF_CHECK_DEFAULT=False,  # checked in auth.before_request, skipped for API tokens
        WTF_CSRF_TIME_LIMIT=None,  # tied to the session instead: a phone left open still works
        WTF_CSRF_SSL_STRICT=False,  # the appliance is usually plain HTTP on a LAN
    )
    from flask_ui import (
        api,
        auth,
        backups,
        events,
        failures,
        fleet,
        headers,
        insight,
        installations,
        media,
        networks,
        pages,
        render,
        runs,
        screens,
        spend,
        visitor,
    )

    auth.init_app(app)
    render.init_app(app)
    headers.init_app(app)
    failures.init_app(app)
    visitor.init_app(app)
    for module in (media, api, auth, pages, networks, runs, backups, events, installations, screens, visitor, fleet,
                   insight, spend):
        app.register_blueprint(module.bp)
    hops = settings.admin.trusted_proxies
    if hops:  # the client's own address and scheme, as the proxies saw them
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]  # Flask's own recipe
    return app
