"""Every read of the database, as a plain function of a ``sqlite3`` connection.

They run on read connections, never the writer's: the daemon's through the store's read threads,
the admin page's on the HTTP thread. Lists are windows, newest first, paged by keyset on indexed
columns (``before`` a cursor: older items; ``after`` one: newer items), so a page costs the same
on the first day and after a month; none of them reads a whole run or a whole table.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from panic_edge.core.invocation import Invocation, Run
from panic_edge.errors import CursorError
from panic_edge.store.rows import Row, row_to_invocation, row_to_run

T = TypeVar("T")
MAX_WINDOW = 500
REPLAY_CANDIDATES = 200


@dataclass(frozen=True)
class Window(Generic[T]):
    """One page of a list, newest first. ``older`` / ``newer`` are the cursors to pass as
    ``before`` / ``after`` for the next page each way, None at either end."""

    items: list[T]
    older: str | None = None
    newer: str | None = None


@dataclass(frozen=True)
class RunSummary:
    run: Run
    invocations: int
    failed: int
    cost_usd: float | None  # None when no invocation reported a cost
    predict_time: float | None
    seconds: float


# --- cursors ----------------------------------------------------------------------------------


def _time_cursor(at: float, key: str | int) -> str:
    return f"{at!r}:{key}"


def _parse_time_cursor(cursor: str) -> tuple[float, str]:
    at, sep, key = cursor.partition(":")
    try:
        value = float(at)
    except ValueError:
        value = math.nan
    if not sep or not key or not math.isfinite(value) or len(cursor) > 200:
        raise CursorError(f"{cursor[:60]!r} is not a cursor of this list; follow the older/newer links")
    return value, key


def parse_sequence(cursor: str) -> int:
    """A step-number cursor (``before`` / ``after`` of a run's steps, or its insight points)."""
    if not (cursor.isascii() and cursor.isdigit()) or len(cursor) > 18:  # "¹".isdigit(), but no int
        raise CursorError(f"{cursor[:60]!r} is not a step number; follow the older/newer links")
    return int(cursor)


def trim_window(rows: list[T], limit: int, before: str | None, after: str | None,
                cursor: Callable[[T], str]) -> Window[T]:
    """Trim the ``limit + 1`` rows fetched in the direction of travel into a window (newest first)."""
    more = len(rows) > limit
    rows = rows[:limit]
    older: str | None
    newer: str | None
    if after is not None:
        rows.reverse()  # fetched oldest first, going newer
        newer = cursor(rows[0]) if more and rows else None
        older = cursor(rows[-1]) if rows else after
    else:
        older = cursor(rows[-1]) if more and rows else None
        newer = (cursor(rows[0]) if rows else before) if before is not None else None
    return Window(rows, older, newer)


def clamp_limit(limit: int) -> int:
    """A window's size: 1 to MAX_WINDOW."""
    return max(1, min(int(limit), MAX_WINDOW))


# --- runs -------------------------------------------------------------------------------------


def get_run(conn: sqlite3.Connection, run_id: str) -> Run | None:
    row = conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
    return row_to_run(row) if row else None


def runs(conn: sqlite3.Connection, network: str | None = None, limit: int = 50) -> list[Run]:
    where, params = ("WHERE network = ?", (network,)) if network else ("", ())
    sql = f"SELECT * FROM runs {where} ORDER BY started_at DESC LIMIT ?"
    return [row_to_run(r) for r in conn.execute(sql, (*params, limit))]


def _summary(row: Row) -> RunSummary:
    end = row["ended_at"] or row["last_finished"] or row["started_at"]
    return RunSummary(row_to_run(row), int(row["invocations"]), int(row["failed"]), row["cost_usd"],
                      row["predict_time"], max(0.0, end - row["started_at"]))


def run_summary(conn: sqlite3.Connection, run_id: str) -> RunSummary | None:
    """A run with its steps, failures, cost and wall time (kept in the runs row by triggers)."""
    row = conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
    return _summary(row) if row else None


def run_summaries(conn: sqlite3.Connection, limit: int = 50, before: str | None = None,
                  after: str | None = None) -> Window[RunSummary]:
    """Runs, newest first, with their totals; keyset on (started_at, id)."""
    limit = clamp_limit(limit)
    if after is not None:
        at, key = _parse_time_cursor(after)
        sql = "SELECT * FROM runs WHERE (started_at, id) > (?, ?) ORDER BY started_at, id LIMIT ?"
        params: tuple[Any, ...] = (at, key, limit + 1)
    elif before is not None:
        at, key = _parse_time_cursor(before)
        sql = "SELECT * FROM runs WHERE (started_at, id) < (?, ?) ORDER BY started_at DESC, id DESC LIMIT ?"
        params = (at, key, limit + 1)
    else:
        sql, params = "SELECT * FROM runs ORDER BY started_at DESC, id DESC LIMIT ?", (limit + 1,)
    found = [_summary(r) for r in conn.execute(sql, params)]
    return trim_window(found, limit, before, after, lambda s: _time_cursor(s.run.started_at, s.run.id))


def open_runs(conn: sqlite3.Connection) -> list[tuple[Run, Invocation | None]]:
    """Runs a crash or restart left open, newest first, each with its last invocation."""
    out: list[tuple[Run, Invocation | None]] = []
    for row in conn.execute("SELECT * FROM runs WHERE ended_at IS NULL ORDER BY started_at DESC").fetchall():
        last = conn.execute("SELECT * FROM invocations WHERE run_id = ? ORDER BY sequence DESC LIMIT 1",
                            (row["id"],)).fetchone()
        out.append((row_to_run(row), row_to_invocation(last) if last else None))
    return out


def run_totals(conn: sqlite3.Connection, run_id: str) -> dict[str, float | int]:
    """Cost and timing summed over a run's completed invocations: ``invocations``,
    ``predict_time`` (seconds), ``input_tokens``, ``output_tokens``, ``cost_usd`` (only the
    invocations whose price is known count towards it). Reads the whole run: for reports."""
    sql = ("SELECT count(*), total(json_extract(meta, '$.predict_time')), "
           "total(json_extract(meta, '$.input_tokens')), total(json_extract(meta, '$.output_tokens')), "
           "total(json_extract(meta, '$.cost_usd')) "
           "FROM invocations WHERE run_id = ? AND state = 'completed'")
    count, predict, tokens_in, tokens_out, cost = conn.execute(sql, (run_id,)).fetchone()
    return {"invocations": int(count), "predict_time": round(predict, 3), "input_tokens": int(tokens_in),
            "output_tokens": int(tokens_out), "cost_usd": round(cost, 6)}


def run_cost(conn: sqlite3.Connection, run_id: str) -> dict[str, float]:
    """Seconds and dollars a run's invocations took, summed."""
    sql = ("SELECT coalesce(sum(finished_at - started_at), 0), "
           "coalesce(sum(json_extract(meta, '$.cost_usd')), 0) FROM invocations WHERE run_id = ?")
    seconds, cost = conn.execute(sql, (run_id,)).fetchone()
    return {"seconds": float(seconds), "cost_usd": float(cost)}


# --- invocations ------------------------------------------------------------------------------


def get_invocation(conn: sqlite3.Connection, invocation_id: str) -> Invocation | None:
    row = conn.execute("SELECT * FROM invocations WHERE id = ?", (invocation_id,)).fetchone()
    return row_to_invocation(row) if row else None


def run_invocations(conn: sqlite3.Connection, run_id: str) -> list[Invocation]:
    """Every invocation of a run, in order. The whole run: for tests and small runs only; pages
    use ``run_window``."""
    sql = "SELECT * FROM invocations WHERE run_id = ? ORDER BY sequence"
    return [row_to_invocation(r) for r in conn.execute(sql, (run_id,))]


def run_window(conn: sqlite3.Connection, run_id: str, limit: int = 50, before: str | None = None,
               after: str | None = None) -> Window[Invocation]:
    """A run's invocations, newest step first; keyset on the step number (the cursor)."""
    limit = clamp_limit(limit)
    if after is not None:
        sql = "SELECT * FROM invocations WHERE run_id = ? AND sequence > ? ORDER BY sequence LIMIT ?"
        params: tuple[Any, ...] = (run_id, parse_sequence(after), limit + 1)
    elif before is not None:
        sql = "SELECT * FROM invocations WHERE run_id = ? AND sequence < ? ORDER BY sequence DESC LIMIT ?"
        params = (run_id, parse_sequence(before), limit + 1)
    else:
        sql, params = "SELECT * FROM invocations WHERE run_id = ? ORDER BY sequence DESC LIMIT ?", (run_id, limit + 1)
    found = [row_to_invocation(r) for r in conn.execute(sql, params)]
    return trim_window(found, limit, before, after, lambda inv: str(inv.sequence))


def nearest_text_input(conn: sqlite3.Connection, run_id: str, sequence: int) -> Invocation | None:
    """The latest invocation of a run at or before ``sequence`` whose input was text (what a
    picture was painted from): a bounded walk back along the run's (run_id, sequence) index."""
    row = conn.execute("SELECT * FROM invocations WHERE run_id = ? AND sequence <= ? AND input_text IS NOT NULL "
                       "ORDER BY sequence DESC LIMIT 1", (run_id, sequence)).fetchone()
    return row_to_invocation(row) if row else None


def network_window(conn: sqlite3.Connection, network: str, limit: int = 16,
                   before: str | None = None, after: str | None = None) -> Window[Invocation]:
    """A network's invocations across runs, newest first; keyset on (created_at, sequence):
    ``before`` pages back, ``after`` gives the ones that came since (a node catching up)."""
    limit = clamp_limit(limit)
    if after is not None:
        at, key = _parse_time_cursor(after)
        sql = ("SELECT * FROM invocations WHERE network = ? AND (created_at, sequence) > (?, ?) "
               "ORDER BY created_at, sequence LIMIT ?")
        params: tuple[Any, ...] = (network, at, parse_sequence(key), limit + 1)
    elif before is not None:
        at, key = _parse_time_cursor(before)
        sql = ("SELECT * FROM invocations WHERE network = ? AND (created_at, sequence) < (?, ?) "
               "ORDER BY created_at DESC, sequence DESC LIMIT ?")
        params = (network, at, parse_sequence(key), limit + 1)
    else:
        sql = "SELECT * FROM invocations WHERE network = ? ORDER BY created_at DESC, sequence DESC LIMIT ?"
        params = (network, limit + 1)
    found = [row_to_invocation(r) for r in conn.execute(sql, params)]
    return trim_window(found, limit, before, after, lambda inv: _time_cursor(inv.created_at, inv.sequence))


def recent_invocations(conn: sqlite3.Connection, network: str, limit: int = 16) -> list[Invocation]:
    """The newest ``limit`` invocations of ``network``, newest first."""
    return network_window(conn, network, limit).items


def count_invocations(conn: sqlite3.Connection, network: str | None = None) -> int:
    where, params = ("WHERE network = ?", (network,)) if network else ("", ())
    return int(conn.execute(f"SELECT count(*) FROM invocations {where}", params).fetchone()[0])


def replay_candidates(conn: sqlite3.Connection, model: str, limit: int = REPLAY_CANDIDATES) -> list[Invocation]:
    """Completed invocations of ``model``, newest first, at most ``limit``: what replay can show.
    Bounded: the (model, created_at) index of completed invocations is read from its newest end."""
    sql = ("SELECT * FROM invocations WHERE model = ? AND state = 'completed' AND pruned_at IS NULL "
           "ORDER BY created_at DESC LIMIT ?")  # a pruned output's file is gone: nothing to replay
    return [row_to_invocation(r) for r in conn.execute(sql, (model, limit))]


def unpublished(conn: sqlite3.Connection, limit: int = 10_000) -> list[Invocation]:
    """Invocations whose current state the broker has not acknowledged, oldest first."""
    sql = ("SELECT * FROM invocations WHERE published IS NOT state "
           "ORDER BY created_at, sequence LIMIT ?")
    return [row_to_invocation(r) for r in conn.execute(sql, (limit,))]


def plan(conn: sqlite3.Connection, sql: str, params: Sequence[Any] = ()) -> list[str]:
    """SQLite's query plan for ``sql``: how tests check that a read uses its index."""
    return [row[-1] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", tuple(params))]
