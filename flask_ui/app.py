"""The Flask app, flaskr-shaped: ``create_app(settings)``, blueprints, a test client in tests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask

from panic_edge.store.reader import Reader


@dataclass
class Settings:
    """What the web app needs from the daemon. ``status`` returns the live appliance status."""

    archive_dir: Path
    database_path: Path
    media_base: str = ""
    status: Callable[[], dict[str, Any]] = field(default=lambda: {})
    model_names: dict[str, str] = field(default_factory=dict)


def create_app(settings: Settings) -> Flask:
    app = Flask(__name__)
    app.config["PANIC"] = settings
    app.config["READER"] = Reader(settings.database_path)
    from flask_ui import api, media

    app.register_blueprint(media.bp)
    app.register_blueprint(api.bp)
    return app
