"""Read-only queries on their own short-lived sqlite3 connections, for threads outside the loop
(the HTTP server). The daemon's single writer is never blocked by them (WAL)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from panic_edge.core.invocation import Invocation, Run
from panic_edge.core.spend import SpendRow
from panic_edge.store import spend
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

    def run(self, run_id: str) -> Run | None:
        with self._connect() as conn:
            row = conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
            return row_to_run(row) if row else None

    def run_invocations(self, run_id: str) -> list[Invocation]:
        with self._connect() as conn:
            rows = conn.execute("SELECT * FROM invocations WHERE run_id = ? ORDER BY sequence", (run_id,))
            return [row_to_invocation(r) for r in rows]

    def invocation(self, invocation_id: str) -> Invocation | None:
        with self._connect() as conn:
            row = conn.execute("SELECT * FROM invocations WHERE id = ?", (invocation_id,)).fetchone()
            return row_to_invocation(row) if row else None

    def run_summaries(self, limit: int = 50, offset: int = 0) -> list[RunSummary]:
        """The newest runs with their invocation counts, wall time and summed cost."""
        sql = """
            SELECT runs.*, count(i.id) AS invocations,
                   sum(i.state = 'failed') AS failed,
                   sum(json_extract(i.meta, '$.cost_usd')) AS cost_usd,
                   sum(json_extract(i.meta, '$.predict_time')) AS predict_time,
                   max(i.finished_at) AS last_finished
            FROM runs LEFT JOIN invocations i ON i.run_id = runs.id
            GROUP BY runs.id ORDER BY runs.started_at DESC LIMIT ? OFFSET ?"""
        with self._connect() as conn:
            return [RunSummary(row_to_run(r), int(r["invocations"]), int(r["failed"] or 0),
                               r["cost_usd"], r["predict_time"],
                               (r["ended_at"] or r["last_finished"] or r["started_at"]) - r["started_at"])
                    for r in conn.execute(sql, (limit, offset))]

    def spend_by_hour(self, since: float, until: float) -> list[SpendRow]:
        """See panic_edge.store.spend.spend_by_hour."""
        with self._connect() as conn:
            return spend.spend_by_hour(conn, since, until)

    def recent_calls(self, since: float) -> dict[str, tuple[float | None, float | None]]:
        """See panic_edge.store.spend.recent_calls."""
        with self._connect() as conn:
            return spend.recent_calls(conn, since)


@dataclass(frozen=True)
class RunSummary:
    run: Run
    invocations: int
    failed: int
    cost_usd: float | None  # None when no invocation reported a cost
    predict_time: float | None
    seconds: float
