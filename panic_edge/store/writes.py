"""Every write to the database, as a plain function of a ``sqlite3`` connection.

The functions run on the writer thread (store/writer.py) inside the transaction it opens, and
never commit themselves: a runner transition's writes are one call of ``record_transition``, so
they are committed together or not at all. Each write is idempotent (a transition carried out
again after a storage fault changes nothing twice).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from panic_edge.core.invocation import Invocation, InvocationState, Run
from panic_edge.core.media import Content
from panic_edge.core.runner import Action, BeginRun, Cancel, Complete, EndRun, Fail, Invoke
from panic_edge.store.rows import row_to_invocation


def begin_run(conn: sqlite3.Connection, run: Run) -> None:
    conn.execute("INSERT OR IGNORE INTO runs (id, network, prompt, started_at) VALUES (?, ?, ?, ?)",
                 (run.id, run.network, run.prompt, run.started_at))


def end_run(conn: sqlite3.Connection, run_id: str, reason: str, at: float) -> bool:
    """Record the end of a run; False if it had already ended."""
    cursor = conn.execute("UPDATE runs SET ended_at = ?, end_reason = ? WHERE id = ? AND ended_at IS NULL",
                          (at, reason, run_id))
    return cursor.rowcount > 0


def add_invocation(conn: sqlite3.Connection, inv: Invocation) -> None:
    """Create an invocation, or reset an existing one to ``inv.state`` to carry it out again."""
    conn.execute(
        "INSERT INTO invocations (id, run_id, network, sequence, model, state, input_type, "
        "input_text, input_file, input_mime, output_type, created_at, started_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (id) DO UPDATE SET state = excluded.state, started_at = excluded.started_at, "
        "finished_at = NULL, error = NULL, output_text = NULL, output_file = NULL, output_mime = NULL, "
        "output_flags = '[]', meta = '{}'",
        (inv.id, inv.run_id, inv.network, inv.sequence, inv.model, inv.state.value,
         inv.input.type.value, inv.input.text, inv.input.file, inv.input.mime,
         inv.output_type.value, inv.created_at, inv.started_at))


def _update_invocation(conn: sqlite3.Connection, sql: str, params: tuple[Any, ...]) -> Invocation | None:
    """Run an UPDATE of one invocation: the invocation as it now stands (RETURNING), or None if
    the statement changed nothing."""
    row = conn.execute(f"{sql} RETURNING *", params).fetchone()
    return row_to_invocation(row) if row is not None else None


def mark_invoking(conn: sqlite3.Connection, invocation_id: str, at: float) -> Invocation | None:
    """The invocation, now ``invoking``; None if it was no longer ``ready``."""
    return _update_invocation(
        conn, "UPDATE invocations SET state = 'invoking', started_at = ? WHERE id = ? AND state = 'ready'",
        (at, invocation_id))


def complete(conn: sqlite3.Connection, invocation_id: str, output: Content, at: float,
             meta: Mapping[str, Any] | None = None) -> Invocation | None:
    """The invocation, now ``completed``; None if it had already finished."""
    return _update_invocation(
        conn, "UPDATE invocations SET state = 'completed', output_text = ?, output_file = ?, "
        "output_mime = ?, output_flags = ?, finished_at = ?, meta = ? "
        "WHERE id = ? AND state IN ('ready', 'invoking')",
        (output.text, output.file, output.mime, json.dumps(list(output.flags)), at,
         json.dumps(dict(meta or {})), invocation_id))


def fail(conn: sqlite3.Connection, invocation_id: str, error: str, at: float) -> Invocation | None:
    """The invocation, now ``failed``; None if it had already finished."""
    return _update_invocation(
        conn, "UPDATE invocations SET state = 'failed', error = ?, finished_at = ? "
        "WHERE id = ? AND state IN ('ready', 'invoking')", (error, at, invocation_id))


def mark_published(conn: sqlite3.Connection, acknowledged: Sequence[tuple[str, str]]) -> None:
    """Record (invocation id, state) pairs the broker acknowledged (the durable outbox)."""
    conn.executemany("UPDATE invocations SET published = ? WHERE id = ?",
                     [(state, inv_id) for inv_id, state in acknowledged])


def record_transition(conn: sqlite3.Connection, actions: Sequence[Action], created: Mapping[str, Invocation],
                      in_flight: Mapping[str, Invocation] | None = None) -> list[Invocation | None]:
    """Every database write of one runner transition, in order: begin or end the run, create
    (or reset) the next invocation (``created``, by id, as the engine built it), complete or fail
    the current one. Returns, per action, the invocation as it now stands (None when the action
    changed no invocation, or found it already finished).

    ``in_flight``: the invocations being finished as the engine created them; the finished one
    is then built from it rather than read back from the database (cheaper; the same record)."""
    known = in_flight or {}
    out: list[Invocation | None] = []
    for action in actions:
        match action:
            case BeginRun(run_id, network, prompt, started_at):
                begin_run(conn, Run(run_id, network, prompt, started_at))
                out.append(None)
            case EndRun(run_id, reason, ended_at):
                end_run(conn, run_id, reason, ended_at)
                out.append(None)
            case Invoke(invocation_id=inv_id):
                add_invocation(conn, created[inv_id])
                out.append(created[inv_id])
            case Complete(inv_id, output, finished_at, meta) if inv_id in known:
                changed = conn.execute(
                    "UPDATE invocations SET state = 'completed', output_text = ?, output_file = ?, "
                    "output_mime = ?, output_flags = ?, finished_at = ?, meta = ? "
                    "WHERE id = ? AND state IN ('ready', 'invoking')",
                    (output.text, output.file, output.mime, json.dumps(list(output.flags)), finished_at,
                     json.dumps(dict(meta)), inv_id)).rowcount
                out.append(replace(known[inv_id], state=InvocationState.COMPLETED, output=output,
                                   finished_at=finished_at, meta=dict(meta)) if changed else None)
            case Complete(inv_id, output, finished_at, meta):
                out.append(complete(conn, inv_id, output, finished_at, meta))
            case Fail(inv_id, error, finished_at) | Cancel(inv_id, error, finished_at):
                out.append(fail(conn, inv_id, error, finished_at))
            case _:
                out.append(None)
    return out
