"""Archive retention in the database: sizes, usage, candidates and the pruned mark, as plain
functions of a ``sqlite3`` connection (reads on a reader, writes on the writer).

What to prune is decided by the pure rules in panic_edge.core.retention.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from panic_edge.core.retention import StoredFile


@dataclass(frozen=True)
class Usage:
    bytes: int
    files: int
    pruned: int
    unsized: int  # files whose size is not recorded yet
    by_network: dict[str, int]


@dataclass(frozen=True)
class Unsized:
    invocation_id: str
    file: str
    created_at: float


def unsized(conn: sqlite3.Connection, limit: int = 500, after: tuple[float, str] | None = None) -> list[Unsized]:
    """Outputs whose size is not recorded yet, oldest first, from just after ``after``
    ((created_at, id) of the last one already seen: a keyset, so a caller that cannot record
    the sizes yet still walks on)."""
    since, last = after if after is not None else (float("-inf"), "")
    return [Unsized(r[0], r[1], r[2]) for r in conn.execute(
        "SELECT id, output_file, created_at FROM invocations WHERE output_file IS NOT NULL AND pruned_at IS NULL "
        "AND output_bytes IS NULL AND (created_at, id) > (?, ?) ORDER BY created_at, id LIMIT ?",
        (since, last, limit))]


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


def candidates(conn: sqlite3.Connection, keep_newest: int, limit: int = 1000,
               exclude: Collection[str] = ()) -> list[StoredFile]:
    """Output files that may be pruned, in the order they should go: every ended run's files
    oldest first, then the running runs' files oldest first; never a network's ``keep_newest``
    newest outputs, nor the invocations in ``exclude`` (deleted already, not yet marked)."""
    floors = {}
    for (network,) in conn.execute("SELECT DISTINCT network FROM runs"):
        row = conn.execute("SELECT created_at FROM invocations WHERE network = ? AND output_file IS NOT NULL "
                           "ORDER BY created_at DESC LIMIT 1 OFFSET ?", (network, keep_newest - 1)).fetchone()
        if row is not None:
            floors[network] = row[0]
    out: list[StoredFile] = []
    if not floors:
        return out
    for running in (False, True):  # ended runs first: the oldest file of a live run waits its turn
        rows = conn.execute(
            "SELECT i.id, i.network, i.output_file, coalesce(i.output_bytes, 0), i.created_at "
            "FROM invocations i JOIN runs r ON r.id = i.run_id "
            "WHERE i.output_file IS NOT NULL AND i.pruned_at IS NULL AND (r.ended_at IS NULL) = ? "
            "ORDER BY i.created_at", (running,))
        for inv_id, network, file, size, created in rows:
            if network in floors and created < floors[network] and inv_id not in exclude:
                out.append(StoredFile(inv_id, network, file, int(size), running))
                if len(out) >= limit:
                    return out
    return out


def mark_pruned(conn: sqlite3.Connection, invocation_ids: Sequence[str], at: float) -> int:
    """Mark outputs pruned (their files are gone): the row stays, flagged ``pruned``."""
    cursor = conn.executemany(
        "UPDATE invocations SET pruned_at = ?, output_flags = json_insert(output_flags, '$[#]', 'pruned') "
        "WHERE id = ? AND pruned_at IS NULL", [(at, inv_id) for inv_id in invocation_ids])
    return cursor.rowcount


def record_pass(conn: sqlite3.Connection, sizes: Sequence[tuple[str, int]], pruned: Sequence[str],
                at: float) -> None:
    """What a retention pass learnt and did, in one write: the sizes it measured and the files
    it deleted. Idempotent, so a pass that could not write it (a full disk) tries again later."""
    record_sizes(conn, sizes)
    mark_pruned(conn, pruned, at)
