"""The Flask app, flaskr-shaped: ``create_app(settings)``, blueprints, a test client in tests."""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask import Flask

from panic_edge.config import AdminConfig
from panic_edge.core.catalogue import CATALOGUE
from panic_edge.core.model import Model
from panic_edge.store.reader import Reader

if TYPE_CHECKING:
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
    status: Callable[[], dict[str, Any]] = field(default=lambda: {})
    model_names: dict[str, str] = field(default_factory=dict)
    admin: AdminConfig = field(default_factory=AdminConfig)
    catalogue: Mapping[str, Model] = field(default_factory=lambda: CATALOGUE)
    platforms: "Platforms | None" = None
    networks_dir: Path | None = None
    secret_key_path: Path | None = None  # where the session-signing key is kept across restarts
    control: "Control | None" = None
    hub: "Hub | None" = None
    clock: Callable[[], float] = time.monotonic  # for the login rate limit


def _secret_key(path: Path | None) -> bytes:
    """The key that signs login cookies: kept in a 0600 file so logins survive a restart."""
    if path is None:
        return secrets.token_bytes(32)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_bytes(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(key)
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
    from flask_ui import api, auth, backups, events, insight, media, networks, pages, render, runs

    auth.init_app(app)
    render.init_app(app)
    for module in (media, api, auth, pages, networks, runs, backups, events, insight):
        app.register_blueprint(module.bp)
    return app
