"""Loopback HTTP servers for node tests: a fake Vestaboard that checks its wire format, and a file server."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

VALID_CODES = set(range(43)) | {44, 46, 47, 48, 49, 50, 52, 53, 54, 55, 56, 59, 60, 62} | set(range(63, 72))


class FakeVestaboard:
    """Speaks the Local API (``POST /local-api/message``, ``X-Vestaboard-Local-Api-Key``) or the
    Read/Write API (``POST /``, ``X-Vestaboard-Read-Write-Key``); answers 400/401 like the real ones."""

    def __init__(self, api: str = "local", key: str = "secret-key", rows: int = 6, cols: int = 22) -> None:
        self.api, self.key, self.rows, self.cols = api, key, rows, cols
        self.received: list[tuple[float, list[list[int]]]] = []
        self.rejected: list[str] = []
        self.fail_next = 0
        self._cond = threading.Condition()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                fake._handle(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _handle(self, req: BaseHTTPRequestHandler) -> None:
        path, header = ("/local-api/message", "X-Vestaboard-Local-Api-Key") if self.api == "local" else (
            "/", "X-Vestaboard-Read-Write-Key")
        body = req.rfile.read(int(req.headers.get("Content-Length") or 0))
        problem, status = None, 200
        if req.path != path:
            problem, status = f"wrong path {req.path}", 404
        elif req.headers.get(header) != self.key:
            problem, status = f"missing or wrong {header}", 401
        elif not (req.headers.get("Content-Type") or "").startswith("application/json"):
            problem, status = "not JSON", 400
        else:
            try:
                codes = json.loads(body)
                assert isinstance(codes, list) and len(codes) == self.rows
                assert all(isinstance(r, list) and len(r) == self.cols for r in codes)
                assert all(isinstance(c, int) and c in VALID_CODES for r in codes for c in r)
                assert self.api == "local" or any(c for r in codes for c in r), "blank message"
            except (ValueError, AssertionError) as err:
                problem, status = f"bad layout: {err}", 400
        if problem is None and self.fail_next:
            self.fail_next -= 1
            problem, status = "board busy", 503
        with self._cond:
            if problem is None:
                self.received.append((time.monotonic(), codes))
            else:
                self.rejected.append(problem)
            self._cond.notify_all()
        req.send_response(status)
        req.send_header("Content-Type", "application/json")
        req.end_headers()
        req.wfile.write(json.dumps({"ok": problem is None, "error": problem}).encode())

    def wait_for(self, count: int, timeout: float = 10.0) -> list[tuple[float, list[list[int]]]]:
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.received) >= count, timeout):
                raise AssertionError(f"fake Vestaboard got {len(self.received)} of {count} messages; "
                                     f"rejected {self.rejected}")
            return list(self.received)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class FileServer:
    """Serves ``files`` (path -> bytes) on loopback, like the daemon's /media."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.requests: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                outer.requests.append(self.path)
                data = outer.files.get(self.path)
                self.send_response(200 if data is not None else 404)
                self.end_headers()
                self.wfile.write(data or b"")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
