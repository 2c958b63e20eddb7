"""A fake Hugging Face hub on loopback: serves files at ``/<repo>/resolve/<revision>/<file>`` with the
headers huggingface_hub reads (X-Repo-Commit, ETag, Content-Length), and records every request."""

from __future__ import annotations

import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeHub:
    def __init__(self, repo: str, revision: str, files: dict[str, bytes], busy: int = 0) -> None:
        """``busy``: how many downloads (GETs of a file) are answered 429 (a hub under load) before it serves."""
        self.repo, self.revision, self.files, self.busy = repo, revision, files, busy
        self.requests: list[tuple[str, str]] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_HEAD(self) -> None:
                hub._answer(self, body=False)

            def do_GET(self) -> None:
                hub._answer(self, body=True)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _answer(self, req: BaseHTTPRequestHandler, body: bool) -> None:
        self.requests.append((req.command, req.path))
        if self.busy > 0 and body and "/resolve/" in req.path:
            self.busy -= 1
            req.send_response(429)
            req.send_header("Content-Length", "0")
            req.end_headers()
            return
        prefix = f"/{self.repo}/resolve/{self.revision}/"
        name = req.path[len(prefix):] if req.path.startswith(prefix) else None
        data = self.files.get(name or "")
        if data is None:
            req.send_response(404)
            req.send_header("X-Error-Code", "EntryNotFound")
            req.send_header("Content-Length", "0")
            req.end_headers()
            return
        req.send_response(200)
        req.send_header("X-Repo-Commit", self.revision)
        req.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
        req.send_header("Content-Length", str(len(data)))
        req.end_headers()
        if body:
            req.wfile.write(data)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
