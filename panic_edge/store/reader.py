"""Read-only queries on their own short-lived sqlite3 connections, for threads outside the loop
(the HTTP server). The daemon's single writer is never blocked by them (WAL)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from panic_edge.core.invocation import Invocation, Run
from panic_edge.store.rows import row_to_invocation, row_to_run


class Reader:
    def __init__(self, path: Path) -> None:
        self.path = path

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=5)
        conn.row_factory = sqlite3.Row
        return conn

    def recent_invocations(self, network: str, limit: int = 16) -> list[Invocation]:
        with self._connect() as conn:
            rows = conn.execute("SELECT * FROM invocations WHERE network = ? "
                                "ORDER BY created_at DESC, sequence DESC LIMIT ?", (network, limit))
            return [row_to_invocation(r) for r in rows]

    def runs(self, network: str | None = None, limit: int = 50) -> list[Run]:
        where, params = ("WHERE network = ?", (network,)) if network else ("", ())
        with self._connect() as conn:
            rows = conn.execute(f"SELECT * FROM runs {where} ORDER BY started_at DESC LIMIT ?",
                                (*params, limit))
            return [row_to_run(r) for r in rows]
