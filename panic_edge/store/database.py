"""The async store over one aiosqlite connection (one writer), WAL mode, synchronous=FULL.

Every method that changes state commits before it returns, so the caller may tell the world.
The connection is in autocommit mode: each single-statement write is its own durable
transaction, one trip to aiosqlite's thread instead of two (execute, then commit); a write of
several statements (``recover``) opens its own transaction. Every aiosqlite call is a hop
between threads, and on the daemon's hot path (three writes and two reads per invocation) the
hops, not SQLite, were the cost (bench/loop.py).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from panic_edge.core.invocation import Invocation, Run
from panic_edge.core.media import Content
from panic_edge.core.prewarm import Warmup
from panic_edge.private_files import create_private
from panic_edge.store.migrations import migrate
from panic_edge.store.rows import row_to_invocation as _row_to_invocation
from panic_edge.store.rows import row_to_run as _row_to_run
from panic_edge.store.spend import INSERT_WARMUP, warmup_params



def _prepare(path: Path) -> None:
    create_private(path)  # 0600 before SQLite makes it; its -wal and -shm inherit the mode
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        migrate(conn)
    finally:
        conn.close()


class Store:
    """Runs and invocations in one SQLite file."""

    def __init__(self, db: aiosqlite.Connection, path: Path) -> None:
        self._db = db
        self.path = path

    @classmethod
    @asynccontextmanager
    async def open(cls, path: Path) -> AsyncIterator["Store"]:
        """Open (creating and migrating if needed) the database at ``path``."""
        await asyncio.to_thread(_prepare, path)
        db = await aiosqlite.connect(path, isolation_level=None)
        try:
            db.row_factory = aiosqlite.Row
            await db.execute("PRAGMA synchronous=FULL")
            await db.execute("PRAGMA foreign_keys=ON")
            await db.execute("PRAGMA busy_timeout=5000")
            yield cls(db, path)
        finally:
            await db.close()

    async def _write(self, sql: str, params: tuple[Any, ...]) -> int:
        """One statement, committed (autocommit) by the time it returns; the rows it changed."""
        cursor = await self._db.execute(sql, params)
        return cursor.rowcount

    # --- runs -------------------------------------------------------------------------------

    async def begin_run(self, run: Run) -> None:
        await self._write("INSERT OR IGNORE INTO runs (id, network, prompt, started_at) VALUES (?, ?, ?, ?)",
                          (run.id, run.network, run.prompt, run.started_at))

    async def end_run(self, run_id: str, reason: str, at: float) -> bool:
        """Record the end of a run; False if it had already ended."""
        changed = await self._write(
            "UPDATE runs SET ended_at = ?, end_reason = ? WHERE id = ? AND ended_at IS NULL",
            (at, reason, run_id))
        return changed > 0

    async def get_run(self, run_id: str) -> Run | None:
        async with self._db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)) as cur:
            row = await cur.fetchone()
        return _row_to_run(row) if row else None

    async def runs(self, network: str | None = None, limit: int = 50) -> list[Run]:
        where, params = ("WHERE network = ?", (network,)) if network else ("", ())
        sql = f"SELECT * FROM runs {where} ORDER BY started_at DESC LIMIT ?"
        async with self._db.execute(sql, (*params, limit)) as cur:
            return [_row_to_run(r) for r in await cur.fetchall()]

    # --- invocations ------------------------------------------------------------------------

    async def add_invocation(self, inv: Invocation) -> None:
        """Create an invocation, or reset an existing one to ``ready`` to carry it out again."""
        await self._write(
            "INSERT INTO invocations (id, run_id, network, sequence, model, state, input_type, "
            "input_text, input_file, input_mime, output_type, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET state = excluded.state, started_at = NULL, finished_at = NULL, "
            "error = NULL, output_text = NULL, output_file = NULL, output_mime = NULL, output_flags = '[]', "
            "meta = '{}'",
            (inv.id, inv.run_id, inv.network, inv.sequence, inv.model, inv.state.value,
             inv.input.type.value, inv.input.text, inv.input.file, inv.input.mime,
             inv.output_type.value, inv.created_at))

    async def _update_invocation(self, sql: str, params: tuple[Any, ...]) -> Invocation | None:
        """Run an UPDATE of one invocation, committed; the invocation as it now stands, or None if
        the statement changed nothing. RETURNING reads it back in the same trip to the thread."""
        rows = await self._db.execute_fetchall(f"{sql} RETURNING *", params)
        return _row_to_invocation(next(iter(rows))) if rows else None

    async def mark_invoking(self, invocation_id: str, at: float) -> Invocation | None:
        """The invocation, now ``invoking``; None if it was no longer ``ready``."""
        return await self._update_invocation(
            "UPDATE invocations SET state = 'invoking', started_at = ? WHERE id = ? AND state = 'ready'",
            (at, invocation_id))

    async def complete(self, invocation_id: str, output: Content, at: float,
                       meta: dict[str, Any] | None = None) -> Invocation | None:
        """The invocation, now ``completed``; None if it had already finished."""
        return await self._update_invocation(
            "UPDATE invocations SET state = 'completed', output_text = ?, output_file = ?, "
            "output_mime = ?, output_flags = ?, finished_at = ?, meta = ? "
            "WHERE id = ? AND state IN ('ready', 'invoking')",
            (output.text, output.file, output.mime, json.dumps(list(output.flags)), at,
             json.dumps(meta or {}), invocation_id))

    async def fail(self, invocation_id: str, error: str, at: float) -> Invocation | None:
        """Mark an unfinished invocation failed: the invocation, now ``failed``; None if it had
        already finished."""
        return await self._update_invocation(
            "UPDATE invocations SET state = 'failed', error = ?, finished_at = ? "
            "WHERE id = ? AND state IN ('ready', 'invoking')",
            (error, at, invocation_id))

    async def get_invocation(self, invocation_id: str) -> Invocation | None:
        rows = await self._db.execute_fetchall("SELECT * FROM invocations WHERE id = ?", (invocation_id,))
        return _row_to_invocation(next(iter(rows))) if rows else None

    async def run_invocations(self, run_id: str) -> list[Invocation]:
        sql = "SELECT * FROM invocations WHERE run_id = ? ORDER BY sequence"
        async with self._db.execute(sql, (run_id,)) as cur:
            return [_row_to_invocation(r) for r in await cur.fetchall()]

    async def recent_invocations(self, network: str, limit: int = 16) -> list[Invocation]:
        """The newest ``limit`` invocations of ``network``, newest first."""
        sql = ("SELECT * FROM invocations WHERE network = ? "
               "ORDER BY created_at DESC, sequence DESC LIMIT ?")
        async with self._db.execute(sql, (network, limit)) as cur:
            return [_row_to_invocation(r) for r in await cur.fetchall()]

    async def run_totals(self, run_id: str) -> dict[str, float | int]:
        """Cost and timing summed over a run's completed invocations: ``invocations``,
        ``predict_time`` (seconds), ``input_tokens``, ``output_tokens``, ``cost_usd`` (only the
        invocations whose price is known count towards it)."""
        sql = ("SELECT count(*), total(json_extract(meta, '$.predict_time')), "
               "total(json_extract(meta, '$.input_tokens')), total(json_extract(meta, '$.output_tokens')), "
               "total(json_extract(meta, '$.cost_usd')) "
               "FROM invocations WHERE run_id = ? AND state = 'completed'")
        async with self._db.execute(sql, (run_id,)) as cur:
            row = await cur.fetchone()
        count, predict, tokens_in, tokens_out, cost = row if row else (0, 0.0, 0.0, 0.0, 0.0)
        return {"invocations": int(count), "predict_time": round(predict, 3), "input_tokens": int(tokens_in),
                "output_tokens": int(tokens_out), "cost_usd": round(cost, 6)}

    async def count_invocations(self, network: str | None = None) -> int:
        where, params = ("WHERE network = ?", (network,)) if network else ("", ())
        async with self._db.execute(f"SELECT count(*) FROM invocations {where}", params) as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def replay_candidates(self, model: str, limit: int = 200) -> list[Invocation]:
        """Completed invocations of ``model`` with an output, newest first: what replay can show."""
        sql = ("SELECT * FROM invocations WHERE model = ? AND state = 'completed' "
               "ORDER BY created_at DESC LIMIT ?")
        async with self._db.execute(sql, (model, limit)) as cur:
            return [_row_to_invocation(r) for r in await cur.fetchall()]

    async def run_cost(self, run_id: str) -> dict[str, float]:
        """Seconds and dollars a run's invocations took, summed."""
        sql = ("SELECT coalesce(sum(finished_at - started_at), 0), "
               "coalesce(sum(json_extract(meta, '$.cost_usd')), 0) FROM invocations WHERE run_id = ?")
        async with self._db.execute(sql, (run_id,)) as cur:
            row = await cur.fetchone()
        return {"seconds": float(row[0]), "cost_usd": float(row[1])} if row else {}

    async def add_warmup(self, warmup: Warmup) -> None:
        """Keep a warm-up call and what it cost (store/spend.py)."""
        await self._write(INSERT_WARMUP, warmup_params(warmup))

    # --- the outbox -------------------------------------------------------------------------

    async def mark_published(self, acknowledged: list[tuple[str, str]]) -> None:
        """Record (invocation id, state) pairs the broker acknowledged, in one transaction."""
        try:
            # A write whose task was cancelled after its statement ran but before its commit (a
            # call cancelled by a stop) leaves sqlite3's implicit transaction open: join it (its
            # write is meant to stand) rather than fail with "a transaction within a transaction".
            if not self._db.in_transaction:
                await self._db.execute("BEGIN")
            await self._db.executemany("UPDATE invocations SET published = ? WHERE id = ?",
                                       [(state, inv_id) for inv_id, state in acknowledged])
        except BaseException:
            await self._db.rollback()
            raise
        await self._db.commit()

    async def unpublished(self, limit: int = 10_000) -> list[Invocation]:
        """Invocations whose current state the broker has not acknowledged, oldest first."""
        sql = ("SELECT * FROM invocations WHERE published IS NOT state "
               "ORDER BY created_at, sequence LIMIT ?")
        async with self._db.execute(sql, (limit,)) as cur:
            return [_row_to_invocation(r) for r in await cur.fetchall()]

    # --- recovery ---------------------------------------------------------------------------

    async def open_runs(self) -> list[tuple[Run, Invocation | None]]:
        """Runs a crash or restart left open, newest first, each with its last invocation."""
        async with self._db.execute("SELECT * FROM runs WHERE ended_at IS NULL ORDER BY started_at DESC") as cur:
            runs = [_row_to_run(r) for r in await cur.fetchall()]
        out: list[tuple[Run, Invocation | None]] = []
        for run in runs:
            sql = "SELECT * FROM invocations WHERE run_id = ? ORDER BY sequence DESC LIMIT 1"
            async with self._db.execute(sql, (run.id,)) as cur:
                row = await cur.fetchone()
            out.append((run, _row_to_invocation(row) if row else None))
        return out
