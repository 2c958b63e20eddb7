"""Live updates for the dashboard as server-sent events, fed by the daemon's in-process hub.

Events: ``invocation`` (every invocation state change, the MQTT message body with media links
made relative), ``state`` (a network's runner state), ``screenshot`` (a node's new thumbnail:
``node_id``, ``at``), ``insight`` (a run's insight was updated: ``run_id``, ``network``,
``sequence``; the run page then fetches its charts again) and ``status`` (the appliance status,
sent every few seconds, which doubles as the keepalive).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Response, current_app, jsonify
from flask.typing import ResponseReturnValue

from flask_ui.auth import read_required
from panic_edge.errors import CommandError

bp = Blueprint("events", __name__)
STATUS_EVERY = 5.0


def relative_media(body: dict[str, Any], media_base: str) -> dict[str, Any]:
    """The invocation message with its media URLs made relative to this server."""
    prefix = media_base.rstrip("/") + "/media/"
    out = dict(body)
    for key in ("input", "output"):
        value = out.get(key)
        if isinstance(value, str) and media_base and value.startswith(prefix):
            out[key] = "/media/" + value[len(prefix):]
    return out


def _sse(kind: str, data: dict[str, Any]) -> str:
    return f"event: {kind}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


@bp.get("/events")
@read_required
def stream() -> ResponseReturnValue:
    settings = current_app.config["PANIC"]
    hub = settings.hub
    if hub is None:
        return jsonify(error="live events are not available: the engine is not running"), 503
    try:
        subscription = hub.subscribe()
        sub = subscription.__enter__()
    except CommandError as err:
        return jsonify(error=str(err)), 503
    released = threading.Event()

    def release() -> None:
        """Once, whether the stream ran to its end or the response was closed before it began."""
        if not released.is_set():
            released.set()
            subscription.__exit__(None, None, None)

    def generate() -> Iterator[str]:
        try:
            yield "retry: 2000\n\n"
            yield _sse("status", {**settings.status(), "now": time.time()})
            last = time.monotonic()
            while True:
                event = sub.next(timeout=STATUS_EVERY)
                if event is not None:
                    data = event.data
                    if event.kind == "invocation":
                        data = relative_media(data, settings.media_base)
                    yield _sse(event.kind, data)
                if time.monotonic() - last >= STATUS_EVERY:
                    yield _sse("status", {**settings.status(), "now": time.time()})
                    last = time.monotonic()
        except EOFError:  # the daemon is stopping
            return
        finally:
            release()

    response = Response(generate(), mimetype="text/event-stream",
                        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    response.call_on_close(release)
    return response
