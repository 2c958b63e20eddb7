"""Archive retention in the database: sizes, usage, candidates and the pruned mark, as plain
functions of a ``sqlite3`` connection (reads on a reader, writes on the writer).

What to prune is decided by the pure rules in panic_edge.core.retention.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from panic_edge.core.retention import StoredFile


@dataclass(frozen=True)
class Usage:
    bytes: int
    files: int
    pruned: int
    unsized: int  # files whose size is not recorded yet
    by_network: dict[str, int]


def unsized(conn: sqlite3.Connection, limit: int = 500) -> list[tuple[str, str]]:
    """(invocation id, archive-relative file) of outputs whose size is not recorded yet."""
    return [(r[0], r[1]) for r in conn.execute(
        "SELECT id, output_file FROM invocations WHERE output_file IS NOT NULL AND pruned_at IS NULL "
        "AND output_bytes IS NULL ORDER BY created_at LIMIT ?", (limit,))]


def record_sizes(conn: sqlite3.Connection, sizes: Sequence[tuple[str, int]]) -> None:
    conn.executemany("UPDATE invocations SET output_bytes = ? WHERE id = ?",
                     [(size, inv_id) for inv_id, size in sizes])


def usage(conn: sqlite3.Connection) -> Usage:
    by_network = {r[0]: int(r[1]) for r in conn.execute(
        "SELECT network, coalesce(sum(output_bytes), 0) FROM invocations "
        "WHERE output_file IS NOT NULL AND pruned_at IS NULL GROUP BY network")}
    total, files, nulls = conn.execute(
        "SELECT coalesce(sum(output_bytes), 0), count(*), count(*) - count(output_bytes) FROM invocations "
        "WHERE output_file IS NOT NULL AND pruned_at IS NULL").fetchone()
    pruned = conn.execute("SELECT count(*) FROM invocations WHERE pruned_at IS NOT NULL").fetchone()[0]
    return Usage(int(total), int(files), int(pruned), int(nulls), by_network)


def archive_bytes(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT coalesce(sum(output_bytes), 0) FROM invocations "
                            "WHERE output_file IS NOT NULL AND pruned_at IS NULL").fetchone()[0])


def candidates(conn: sqlite3.Connection, keep_newest: int, limit: int = 1000) -> list[StoredFile]:
    """Output files that may be pruned, oldest first: every network's but its ``keep_newest``
    newest, each marked with whether its run is still going."""
    floors = {}
    for (network,) in conn.execute("SELECT DISTINCT network FROM runs"):
        row = conn.execute("SELECT created_at FROM invocations WHERE network = ? AND output_file IS NOT NULL "
                           "ORDER BY created_at DESC LIMIT 1 OFFSET ?", (network, keep_newest - 1)).fetchone()
        if row is not None:
            floors[network] = row[0]
    if not floors:
        return []
    out: list[StoredFile] = []
    rows = conn.execute(
        "SELECT i.id, i.network, i.output_file, coalesce(i.output_bytes, 0), r.ended_at IS NULL, i.created_at "
        "FROM invocations i JOIN runs r ON r.id = i.run_id "
        "WHERE i.output_file IS NOT NULL AND i.pruned_at IS NULL ORDER BY i.created_at")
    for inv_id, network, file, size, running, created in rows:
        if network in floors and created < floors[network]:
            out.append(StoredFile(inv_id, network, file, int(size), bool(running)))
            if len(out) >= limit:
                break
    return out


def mark_pruned(conn: sqlite3.Connection, invocation_ids: Sequence[str], at: float) -> int:
    """Mark outputs pruned (their files are gone): the row stays, flagged ``pruned``."""
    cursor = conn.executemany(
        "UPDATE invocations SET pruned_at = ?, output_flags = json_insert(output_flags, '$[#]', 'pruned') "
        "WHERE id = ? AND pruned_at IS NULL", [(at, inv_id) for inv_id in invocation_ids])
    return cursor.rowcount


