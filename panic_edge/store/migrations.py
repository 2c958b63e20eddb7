"""Versioned schema migrations. ``PRAGMA user_version`` holds the number applied last.

Append to MIGRATIONS; never edit a migration that has shipped.
"""

from __future__ import annotations

import sqlite3

MIGRATIONS: tuple[str, ...] = (
    # 1: runs and invocations
    """
    CREATE TABLE runs (
        id          TEXT PRIMARY KEY,
        network     TEXT NOT NULL,
        prompt      TEXT NOT NULL,
        started_at  REAL NOT NULL,
        ended_at    REAL,
        end_reason  TEXT
    );
    CREATE INDEX runs_network ON runs (network, started_at);
    CREATE TABLE invocations (
        id           TEXT PRIMARY KEY,
        run_id       TEXT NOT NULL REFERENCES runs (id),
        network      TEXT NOT NULL,
        sequence     INTEGER NOT NULL,
        model        TEXT NOT NULL,
        state        TEXT NOT NULL CHECK (state IN ('ready', 'invoking', 'completed', 'failed')),
        input_type   TEXT NOT NULL,
        input_text   TEXT,
        input_file   TEXT,
        input_mime   TEXT,
        output_type  TEXT NOT NULL,
        output_text  TEXT,
        output_file  TEXT,
        output_mime  TEXT,
        output_flags TEXT NOT NULL DEFAULT '[]',
        error        TEXT,
        created_at   REAL NOT NULL,
        started_at   REAL,
        finished_at  REAL,
        meta         TEXT NOT NULL DEFAULT '{}',
        UNIQUE (run_id, sequence)
    );
    CREATE INDEX invocations_network ON invocations (network, created_at);
    CREATE INDEX invocations_state ON invocations (state) WHERE state IN ('ready', 'invoking');
    """,
    # 2: the durable outbox: the last state of each invocation the broker acknowledged
    """
    ALTER TABLE invocations ADD COLUMN published TEXT;
    CREATE INDEX invocations_unpublished ON invocations (created_at) WHERE published IS NOT state;
    CREATE INDEX invocations_model ON invocations (model, state);
    """,
)


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, upto: int | None = None) -> int:
    """Apply every migration newer than the database (up to ``upto``, default all), each in its
    own transaction.

    Returns the resulting version. Refuses a database newer than this code.
    """
    current = schema_version(conn)
    if current > len(MIGRATIONS):
        raise RuntimeError(f"the database is at schema {current}, newer than this panic-edge "
                           f"({len(MIGRATIONS)}); upgrade panic-edge or restore an older backup")
    last = len(MIGRATIONS) if upto is None else upto
    for number, script in enumerate(MIGRATIONS[current:last], start=current + 1):
        conn.executescript(f"BEGIN;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;")
    return schema_version(conn)
