"""The async store: one writer thread plus read threads on one SQLite file (WAL, synchronous=FULL).

- Writes are plain functions of a connection (store/writes.py), carried out by the one writer
  thread (store/writer.py): ``await store.write(fn)`` returns once the transaction holding
  ``fn`` is committed and on disk; ``store.submit(fn)`` gives the future without waiting. Writes
  of several callers share a commit (group commit).
- Reads are plain functions of a connection too (store/queries.py), run by ``await
  store.read(fn, *args)`` on a small pool of read-only connections: they never wait behind a
  write (WAL), and a read after a write returns what the write committed.
- The named methods (``begin_run``, ``complete``, ``run_invocations`` …) are those two with the
  usual functions; every write among them is committed when it returns.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, Self, TypeVar

from panic_edge.core.invocation import Invocation, Run
from panic_edge.core.media import Content
from panic_edge.core.prewarm import Warmup
from panic_edge.private_files import create_private
from panic_edge.store import queries, writes
from panic_edge.store.migrations import migrate
from panic_edge.store.queries import RunSummary, Window
from panic_edge.store.reader import connect_reader
from panic_edge.store.spend import INSERT_WARMUP, warmup_params
from panic_edge.store.writer import Writer

P = ParamSpec("P")
T = TypeVar("T")
READ_THREADS = 2


def _prepare(path: Path) -> None:
    create_private(path)  # 0600 before SQLite makes it; its -wal and -shm inherit the mode
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        migrate(conn)
    finally:
        conn.close()


class _ReadPool:
    """A few threads, each with its own read-only connection, opened on first use."""

    def __init__(self, path: Path, threads: int = READ_THREADS) -> None:
        self.path = path
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix="panic-store-read")
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = connect_reader(self.path)
            with self._lock:
                self._all.append(conn)
        return fn(conn)

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._run, fn)

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()


class Store:
    """Runs and invocations in one SQLite file."""

    def __init__(self, path: Path, writer: Writer, reads: _ReadPool) -> None:
        self.path = path
        self.writer = writer
        self._reads = reads

    @classmethod
    @asynccontextmanager
    async def open(cls, path: Path) -> AsyncIterator[Self]:
        """Open (creating and migrating if needed) the database at ``path``."""
        await asyncio.to_thread(_prepare, path)
        writer = Writer(path)
        await asyncio.to_thread(writer.start)
        reads = _ReadPool(path)
        try:
            yield cls(path, writer, reads)
        finally:
            await asyncio.to_thread(writer.close)
            await asyncio.to_thread(reads.close)

    # --- the two primitives ---------------------------------------------------------------------

    def submit(self, fn: Callable[[sqlite3.Connection], T], committing: Callable[[], None] | None = None,
               background: bool = False) -> asyncio.Future[T]:
        """Queue a write (a function of the write connection, run inside a transaction it must not
        commit); the future resolves once it is committed. See writer.settle for cancellation,
        Writer.submit for ``committing`` and ``background`` (a write that joins others' commit)."""
        return self.writer.submit(fn, committing, background)

    async def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Carry out a write; returns what ``fn`` returned, once it is committed and on disk."""
        return await self.writer.submit(fn)

    async def read(self, fn: Callable[Concatenate[sqlite3.Connection, P], T], *args: P.args,
                   **kwargs: P.kwargs) -> T:
        """``fn(connection, *args, **kwargs)`` on a read connection, off the event loop."""
        return await self._reads.read(lambda conn: fn(conn, *args, **kwargs))

    # --- runs -----------------------------------------------------------------------------------

    async def begin_run(self, run: Run) -> None:
        await self.write(lambda conn: writes.begin_run(conn, run))

    async def end_run(self, run_id: str, reason: str, at: float) -> bool:
        """Record the end of a run; False if it had already ended."""
        return await self.write(lambda conn: writes.end_run(conn, run_id, reason, at))

    async def get_run(self, run_id: str) -> Run | None:
        return await self.read(queries.get_run, run_id)

    async def runs(self, network: str | None = None, limit: int = 50) -> list[Run]:
        return await self.read(queries.runs, network, limit)

    async def run_summary(self, run_id: str) -> RunSummary | None:
        return await self.read(queries.run_summary, run_id)

    async def run_summaries(self, limit: int = 50, before: str | None = None,
                            after: str | None = None) -> Window[RunSummary]:
        return await self.read(queries.run_summaries, limit, before, after)

    async def open_runs(self) -> list[tuple[Run, Invocation | None]]:
        """Runs a crash or restart left open, newest first, each with its last invocation."""
        return await self.read(queries.open_runs)

    async def run_totals(self, run_id: str) -> dict[str, float | int]:
        return await self.read(queries.run_totals, run_id)

    async def run_cost(self, run_id: str) -> dict[str, float]:
        return await self.read(queries.run_cost, run_id)

    # --- invocations ----------------------------------------------------------------------------

    async def add_invocation(self, inv: Invocation) -> None:
        """Create an invocation, or reset an existing one to its state to carry it out again."""
        await self.write(lambda conn: writes.add_invocation(conn, inv))

    async def mark_invoking(self, invocation_id: str, at: float) -> Invocation | None:
        """The invocation, now ``invoking``; None if it was no longer ``ready``."""
        return await self.write(lambda conn: writes.mark_invoking(conn, invocation_id, at))

    async def complete(self, invocation_id: str, output: Content, at: float,
                       meta: dict[str, Any] | None = None) -> Invocation | None:
        """The invocation, now ``completed``; None if it had already finished."""
        return await self.write(lambda conn: writes.complete(conn, invocation_id, output, at, meta))

    async def fail(self, invocation_id: str, error: str, at: float) -> Invocation | None:
        """The invocation, now ``failed``; None if it had already finished."""
        return await self.write(lambda conn: writes.fail(conn, invocation_id, error, at))

    async def get_invocation(self, invocation_id: str) -> Invocation | None:
        return await self.read(queries.get_invocation, invocation_id)

    async def run_invocations(self, run_id: str) -> list[Invocation]:
        """The whole run, in order: for tests and small runs (pages use ``run_window``)."""
        return await self.read(queries.run_invocations, run_id)

    async def run_window(self, run_id: str, limit: int = 50, before: str | None = None,
                         after: str | None = None) -> Window[Invocation]:
        return await self.read(queries.run_window, run_id, limit, before, after)

    async def recent_invocations(self, network: str, limit: int = 16) -> list[Invocation]:
        """The newest ``limit`` invocations of ``network``, newest first."""
        return await self.read(queries.recent_invocations, network, limit)

    async def count_invocations(self, network: str | None = None) -> int:
        return await self.read(queries.count_invocations, network)

    async def replay_candidates(self, model: str, limit: int = queries.REPLAY_CANDIDATES) -> list[Invocation]:
        """Completed invocations of ``model`` with an output, newest first: what replay can show."""
        return await self.read(queries.replay_candidates, model, limit)

    # --- warm-ups -------------------------------------------------------------------------------

    async def add_warmup(self, warmup: Warmup) -> None:
        """Keep a warm-up call and what it cost (store/spend.py)."""
        params = warmup_params(warmup)
        await self.write(lambda conn: conn.execute(INSERT_WARMUP, params))

    # --- the outbox -----------------------------------------------------------------------------

    async def mark_published(self, acknowledged: Sequence[tuple[str, str]]) -> None:
        """Record (invocation id, state) pairs the broker acknowledged, in one transaction."""
        pairs = list(acknowledged)
        await self.write(lambda conn: writes.mark_published(conn, pairs))

    async def unpublished(self, limit: int = 10_000) -> list[Invocation]:
        """Invocations whose current state the broker has not acknowledged, oldest first."""
        return await self.read(queries.unpublished, limit)
