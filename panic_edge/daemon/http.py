"""The Flask app served by waitress on a thread inside the daemon."""

from __future__ import annotations

import logging
import threading

from waitress.server import create_server
from waitress.wasyncore import close_all

from flask_ui.app import Settings, create_app

log = logging.getLogger(__name__)
# Each open dashboard holds a thread for its event stream; the hub admits at most 8 of those,
# which leaves threads for media, the API and the pages.
THREADS = 14


class HttpServer:
    def __init__(self, settings: Settings, host: str, port: int) -> None:
        self.app = create_app(settings)
        # the ignores in this class: types-waitress types create_server as returning a single-socket
        # server or a MultiSocketServer, and what is used here is the former's
        self._server = create_server(self.app, host=host, port=port, threads=THREADS, ident="panic-edge")
        self.port: int = int(self._server.effective_port)  # type: ignore[union-attr]
        self._thread = threading.Thread(target=self._server.run, name="http", daemon=True)

    def start(self) -> None:
        self._thread.start()
        log.info("serving the admin page, media and API on http://%s:%d", self._server.effective_host, self.port)  # type: ignore[union-attr]

    def stop(self) -> None:
        if self.app.config["PANIC"].hub is not None:
            self.app.config["PANIC"].hub.close()  # event streams return, freeing their threads
        server = self._server
        # close every socket on the server's own thread, woken by its trigger: its loop ends at once
        # (not at its next 1 s poll) and never polls a socket closed under it
        if self._thread.is_alive():
            server.trigger.pull_trigger(lambda: close_all(server._map))  # type: ignore[union-attr]
            self._thread.join(timeout=5)
        else:
            close_all(server._map)  # type: ignore[union-attr]
        server.task_dispatcher.shutdown(timeout=5)
