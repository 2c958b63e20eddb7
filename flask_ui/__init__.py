"""The daemon's HTTP face: archived media for display nodes, a JSON API, and (later) the admin page."""

from flask_ui.app import create_app

__all__ = ["create_app"]
