"""Read-only queries on their own short-lived sqlite3 connections, for threads outside the loop
(the HTTP server, the admin page's actions). WAL: they never wait for the writer, nor it for them.

``read(fn, *args)`` runs any function of store/queries.py on a fresh connection; the named
methods are the common ones.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Concatenate, ParamSpec, TypeVar

from panic_edge.core.invocation import Invocation, Run
from panic_edge.core.spend import SpendRow
from panic_edge.store import queries, spend
from panic_edge.store.queries import RunSummary, Window

__all__ = ["Reader", "RunSummary", "Window", "connect_reader"]

P = ParamSpec("P")
T = TypeVar("T")


def connect_reader(path: Path) -> sqlite3.Connection:
    """A read-only connection (it cannot write, even by mistake)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    return conn


class Reader:
    def __init__(self, path: Path) -> None:
        self.path = path

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        conn = connect_reader(self.path)
        try:
            yield conn
        finally:
            conn.close()

    def read(self, fn: Callable[Concatenate[sqlite3.Connection, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``fn(connection, *args, **kwargs)`` on a fresh read-only connection."""
        with self._connect() as conn:
            return fn(conn, *args, **kwargs)

    def recent_invocations(self, network: str, limit: int = 16) -> list[Invocation]:
        return self.read(queries.recent_invocations, network, limit)

    def runs(self, network: str | None = None, limit: int = 50) -> list[Run]:
        return self.read(queries.runs, network, limit)

    def run(self, run_id: str) -> Run | None:
        return self.read(queries.get_run, run_id)

    def run_invocations(self, run_id: str) -> list[Invocation]:
        """The whole run: small runs only (pages use ``run_window``)."""
        return self.read(queries.run_invocations, run_id)

    def run_window(self, run_id: str, limit: int = 50, before: str | None = None,
                   after: str | None = None) -> Window[Invocation]:
        return self.read(queries.run_window, run_id, limit, before, after)

    def invocation(self, invocation_id: str) -> Invocation | None:
        return self.read(queries.get_invocation, invocation_id)

    def run_summary(self, run_id: str) -> RunSummary | None:
        return self.read(queries.run_summary, run_id)

    def run_summaries(self, limit: int = 50, before: str | None = None,
                      after: str | None = None) -> Window[RunSummary]:
        """The newest runs with their invocation counts, wall time and summed cost."""
        return self.read(queries.run_summaries, limit, before, after)

    def spend_by_hour(self, since: float, until: float) -> list[SpendRow]:
        """See panic_edge.store.spend.spend_by_hour."""
        return self.read(spend.spend_by_hour, since, until)

    def recent_calls(self, since: float) -> dict[str, tuple[float | None, float | None]]:
        """See panic_edge.store.spend.recent_calls."""
        return self.read(spend.recent_calls, since)
