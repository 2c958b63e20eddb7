"""The Flask app served by waitress on a thread inside the daemon."""

from __future__ import annotations

import logging
import threading

from waitress.server import create_server

from flask_ui.app import Settings, create_app

log = logging.getLogger(__name__)
# Each open dashboard holds a thread for its event stream; the hub admits at most 8 of those,
# which leaves threads for media, the API and the pages.
THREADS = 14


class HttpServer:
    def __init__(self, settings: Settings, host: str, port: int) -> None:
        self.app = create_app(settings)
        self._server = create_server(self.app, host=host, port=port, threads=THREADS, ident="panic-edge")
        self.port: int = int(self._server.effective_port)  # type: ignore[union-attr]
        self._thread = threading.Thread(target=self._server.run, name="http", daemon=True)

    def start(self) -> None:
        self._thread.start()
        log.info("serving the admin page, media and API on http://%s:%d", self._server.effective_host, self.port)  # type: ignore[union-attr]

    def stop(self) -> None:
        if self.app.config["PANIC"].hub is not None:
            self.app.config["PANIC"].hub.close()  # event streams return, freeing their threads
        self._server.close()
        self._thread.join(timeout=5)
