"""The last resort: an exception no view expected is logged with its traceback and answered
with a plain 500 that says nothing about the inside. The hostile-input walk over every route
(tests/test_admin_hostile.py) shows it is never reached; it is here for the bug not found yet.
HTTP errors (404, 405, 413 ...) under /api are answered in JSON, like everything else there."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from flask_ui.auth import is_api

log = logging.getLogger("panic_edge.http")

PAGE = ("<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>Error · PANIC! admin</title>"
        "<h1>Something went wrong</h1><p>The appliance hit a bug answering this request; it has been "
        "logged. Everything else keeps running.</p><p><a href=\"/\">Back to the dashboard</a></p></html>")


def init_app(app: Flask) -> None:
    app.register_error_handler(Exception, _unexpected)


def _unexpected(err: Exception) -> ResponseReturnValue:
    if isinstance(err, HTTPException):
        if is_api() and err.code is not None:
            return jsonify(error=err.description), err.code
        return err
    log.error("%s %s failed", request.method, request.path[:200], exc_info=err)
    if is_api():
        return jsonify(error="internal error; it has been logged"), 500
    return PAGE, 500, {"Content-Type": "text/html; charset=utf-8"}
