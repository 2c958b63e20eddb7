"""A small threaded HTTP server on loopback that records every request and replays replies.

Each platform fake (tests/fakes/platforms.py) answers like the real API by default; a test
queues other replies (errors, delays, held answers) for a method and path with ``queue``.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


@dataclass
class Reply:
    status: int = 200
    json: Any = None
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0                      # seconds before answering
    hold: threading.Event | None = None     # answer only once this is set
    chunks: Iterator[bytes] | None = None   # a body streamed chunk by chunk until the client goes
    interval: float = 0.0                   # seconds between chunks (a drip feed)


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class FakeServer:
    def __init__(self, handle: Callable[[Seen], Reply], port: int = 0) -> None:
        self._handle = handle
        self.requests: list[Seen] = []
        self._queued: dict[tuple[str, str], deque[Reply]] = {}
        self._changed = threading.Condition()
        self._closed = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                seen = Seen(self.command, self.path, {k.lower(): v for k, v in self.headers.items()},
                            self.rfile.read(length) if length else b"")
                reply = fake._reply_for(seen)
                if reply.hold is not None:
                    reply.hold.wait(10)
                if reply.delay:
                    threading.Event().wait(reply.delay)
                body = json.dumps(reply.json).encode() if reply.json is not None else reply.body
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", reply.content_type)
                    if reply.chunks is None:
                        self.send_header("Content-Length", str(len(body)))
                    else:  # no length: the body ends when the connection does
                        self.send_header("Connection", "close")
                        self.close_connection = True
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(body)
                    for chunk in reply.chunks or ():
                        self.wfile.write(chunk)
                        self.wfile.flush()
                        if reply.interval and fake._closed.wait(reply.interval):
                            break
                except (BrokenPipeError, ConnectionResetError):  # the client gave up: fine
                    pass

            do_GET = do_POST = do_DELETE = _serve

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def queue(self, method: str, path: str, *replies: Reply) -> None:
        """Answer the next requests to ``method path`` (a path prefix) with ``replies``, in order."""
        with self._changed:
            self._queued.setdefault((method, path), deque()).extend(replies)

    def _reply_for(self, seen: Seen) -> Reply:
        with self._changed:
            self.requests.append(seen)
            self._changed.notify_all()
            for (method, path), replies in self._queued.items():
                if method == seen.method and seen.path.startswith(path) and replies:
                    return replies.popleft()
        return self._handle(seen)

    def seen(self, method: str, path: str = "") -> list[Seen]:
        with self._changed:
            return [r for r in self.requests if r.method == method and r.path.startswith(path)]

    def wait_for(self, predicate: Callable[[list[Seen]], bool], timeout: float = 5.0) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: predicate(self.requests), timeout)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closed.set()
        self._server.shutdown()
        self._server.server_close()
