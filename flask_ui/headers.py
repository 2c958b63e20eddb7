"""Security headers on every response the daemon's HTTP server sends.

The pages load their script and style from /static only, with no inline code or style
attribute, so the Content-Security-Policy needs no 'unsafe-inline', hash or nonce
(tests/test_admin_browser.py visits every page in Chromium and fails on any violation).
"""

from __future__ import annotations

from flask import Flask, request
from werkzeug.wrappers import Response

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; media-src 'self'; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate it
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # no admin URL leaks to a network's about_url
    "Cross-Origin-Opener-Policy": "same-origin",
}


def init_app(app: Flask) -> None:
    app.after_request(_secure)


def _secure(response: Response) -> Response:
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    if "Cache-Control" not in response.headers and not request.path.startswith(("/static/", "/media/")):
        response.headers["Cache-Control"] = "no-store"  # pages carry CSRF tokens and the run history
    return response
