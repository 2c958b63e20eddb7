"""Versioned schema migrations. ``PRAGMA user_version`` holds the number applied last.

Append to MIGRATIONS; never edit a migration that has shipped.
"""

from __future__ import annotations

import sqlite3


def _clean_cost(row: str) -> str:
    """SQL for a call's ``meta.cost_usd`` if it is a plausible price, else 0 (``row``: new or old)."""
    cost = f"json_extract({row}.meta, '$.cost_usd')"
    return f"(CASE WHEN typeof({cost}) IN ('integer', 'real') AND {cost} BETWEEN 0 AND 1000.0 THEN {cost} ELSE 0 END)"


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
    # 3: insight: an embedding of every output and prompt, and each run's geometry (panic_edge/insight/)
    """
    CREATE TABLE embeddings (
        invocation_id TEXT NOT NULL REFERENCES invocations (id) ON DELETE CASCADE,
        model         TEXT NOT NULL,
        dim           INTEGER NOT NULL,
        vector        BLOB NOT NULL,
        created_at    REAL NOT NULL,
        PRIMARY KEY (invocation_id, model)
    );
    CREATE TABLE prompt_embeddings (
        run_id     TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        model      TEXT NOT NULL,
        dim        INTEGER NOT NULL,
        vector     BLOB NOT NULL,
        created_at REAL NOT NULL,
        PRIMARY KEY (run_id, model)
    );
    CREATE TABLE insight_points (
        invocation_id    TEXT NOT NULL REFERENCES invocations (id) ON DELETE CASCADE,
        model            TEXT NOT NULL,
        run_id           TEXT NOT NULL,
        sequence         INTEGER NOT NULL,
        hop              TEXT NOT NULL,
        drift            REAL NOT NULL,
        step             REAL NOT NULL,
        x                REAL NOT NULL,
        y                REAL NOT NULL,
        projection       INTEGER NOT NULL,
        flags            TEXT NOT NULL DEFAULT '[]',
        loop_period      INTEGER,
        nearest_sequence INTEGER,
        nearest_distance REAL,
        PRIMARY KEY (invocation_id, model)
    );
    CREATE INDEX insight_points_run ON insight_points (run_id, model, sequence);
    CREATE TABLE insight_runs (
        run_id      TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        model       TEXT NOT NULL,
        points      INTEGER NOT NULL,
        signature   BLOB,
        prompt_x    REAL,
        prompt_y    REAL,
        projection  INTEGER NOT NULL,
        persistence TEXT,
        similar_at  INTEGER NOT NULL DEFAULT 0,
        updated_at  REAL NOT NULL,
        PRIMARY KEY (run_id, model)
    );
    CREATE TABLE insight_similar (
        run_id   TEXT NOT NULL,
        model    TEXT NOT NULL,
        other    TEXT NOT NULL,
        distance REAL NOT NULL,
        PRIMARY KEY (run_id, model, other)
    );
    CREATE INDEX insight_similar_other ON insight_similar (other, model);
    CREATE TABLE insight_projections (
        model      TEXT PRIMARY KEY,
        version    INTEGER NOT NULL,
        fitted_on  INTEGER NOT NULL,
        dim        INTEGER NOT NULL,
        mean       BLOB NOT NULL,
        axes       BLOB NOT NULL,
        scale      REAL NOT NULL,
        fitted_at  REAL NOT NULL
    );
    """,
    # 4: pre-warming calls and what they cost (core/prewarm.py); spend reads windows of created_at
    """
    CREATE TABLE warmups (
        id          TEXT PRIMARY KEY,
        model       TEXT NOT NULL,
        reason      TEXT NOT NULL,
        state       TEXT NOT NULL CHECK (state IN ('completed', 'failed')),
        error       TEXT,
        started_at  REAL NOT NULL,
        finished_at REAL NOT NULL,
        meta        TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX warmups_started ON warmups (started_at);
    CREATE INDEX IF NOT EXISTS invocations_created ON invocations (created_at);
    """,
    # 5: windowed reads. Each run keeps its own totals (steps, failures, cost, predict time, last
    # finish), kept by triggers on every write, so a page never sums a 100k-step run; keyset
    # indexes for every list (newest first) and a bounded replay search.
    """
    ALTER TABLE runs ADD COLUMN invocations INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE runs ADD COLUMN failed INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE runs ADD COLUMN cost_usd REAL;
    ALTER TABLE runs ADD COLUMN predict_time REAL;
    ALTER TABLE runs ADD COLUMN last_finished REAL;
    UPDATE runs SET (invocations, failed, cost_usd, predict_time, last_finished) = (
        SELECT count(*), count(*) FILTER (WHERE i.state = 'failed'), sum(json_extract(i.meta, '$.cost_usd')),
               sum(json_extract(i.meta, '$.predict_time')), max(i.finished_at)
        FROM invocations i WHERE i.run_id = runs.id);
    CREATE TRIGGER invocations_totals_insert AFTER INSERT ON invocations BEGIN
        UPDATE runs SET
            invocations = invocations + 1,
            failed = failed + (new.state = 'failed'),
            cost_usd = CASE WHEN json_extract(new.meta, '$.cost_usd') IS NULL THEN cost_usd
                       ELSE coalesce(cost_usd, 0) + json_extract(new.meta, '$.cost_usd') END,
            predict_time = CASE WHEN json_extract(new.meta, '$.predict_time') IS NULL THEN predict_time
                           ELSE coalesce(predict_time, 0) + json_extract(new.meta, '$.predict_time') END,
            last_finished = max(coalesce(last_finished, new.finished_at), coalesce(new.finished_at, last_finished))
        WHERE id = new.run_id;
    END;
    CREATE TRIGGER invocations_totals_update AFTER UPDATE OF state, meta, finished_at ON invocations BEGIN
        UPDATE runs SET
            failed = failed + (new.state = 'failed') - (old.state = 'failed'),
            cost_usd = CASE WHEN json_extract(new.meta, '$.cost_usd') IS NULL
                            AND json_extract(old.meta, '$.cost_usd') IS NULL THEN cost_usd
                       ELSE coalesce(cost_usd, 0) + coalesce(json_extract(new.meta, '$.cost_usd'), 0)
                            - coalesce(json_extract(old.meta, '$.cost_usd'), 0) END,
            predict_time = CASE WHEN json_extract(new.meta, '$.predict_time') IS NULL
                                AND json_extract(old.meta, '$.predict_time') IS NULL THEN predict_time
                           ELSE coalesce(predict_time, 0) + coalesce(json_extract(new.meta, '$.predict_time'), 0)
                                - coalesce(json_extract(old.meta, '$.predict_time'), 0) END,
            last_finished = max(coalesce(last_finished, new.finished_at), coalesce(new.finished_at, last_finished))
        WHERE id = new.run_id;
    END;
    CREATE TRIGGER invocations_totals_delete AFTER DELETE ON invocations BEGIN
        UPDATE runs SET
            invocations = invocations - 1,
            failed = failed - (old.state = 'failed'),
            cost_usd = cost_usd - coalesce(json_extract(old.meta, '$.cost_usd'), 0),
            predict_time = predict_time - coalesce(json_extract(old.meta, '$.predict_time'), 0)
        WHERE id = old.run_id;
    END;
    CREATE INDEX runs_started ON runs (started_at, id);
    CREATE INDEX runs_open ON runs (started_at) WHERE ended_at IS NULL;
    DROP INDEX invocations_network;
    CREATE INDEX invocations_network ON invocations (network, created_at, sequence);
    DROP INDEX invocations_model;
    CREATE INDEX invocations_replay ON invocations (model, created_at) WHERE state = 'completed';
    """,
    # 6: archive retention: each output file's size, and when it was pruned (its row stays). The
    # partial index, oldest first and covering the sizes, is what retention walks and sums.
    """
    ALTER TABLE invocations ADD COLUMN output_bytes INTEGER;
    ALTER TABLE invocations ADD COLUMN pruned_at REAL;
    CREATE INDEX invocations_files ON invocations (created_at, output_bytes)
        WHERE output_file IS NOT NULL AND pruned_at IS NULL;
    """,
    # 7: spend at a glance stays instant: completed calls' cost and count per network per quarter
    # hour of created_at (every real timezone's midnight falls on a quarter hour), kept by triggers;
    # the Spend page and the day's ledger read at most 31 x 96 rows a network, not every call. A
    # cost that is not a number from 0 to 1000 dollars counts 0 (core/spend.py MAX_CALL_USD).
    """
    CREATE TABLE spend_quarters (
        quarter  INTEGER NOT NULL,
        network  TEXT NOT NULL,
        cost_usd REAL NOT NULL,
        calls    INTEGER NOT NULL,
        PRIMARY KEY (quarter, network)
    );
    INSERT INTO spend_quarters (quarter, network, cost_usd, calls)
        SELECT CAST(created_at / 900 AS INTEGER), network,
               total(CASE WHEN typeof(json_extract(meta, '$.cost_usd')) IN ('integer', 'real')
                          AND json_extract(meta, '$.cost_usd') BETWEEN 0 AND 1000.0
                          THEN json_extract(meta, '$.cost_usd') ELSE 0 END), count(*)
        FROM invocations WHERE state = 'completed' GROUP BY 1, 2;
    CREATE TRIGGER spend_insert AFTER INSERT ON invocations WHEN new.state = 'completed' BEGIN
        INSERT INTO spend_quarters (quarter, network, cost_usd, calls)
            VALUES (CAST(new.created_at / 900 AS INTEGER), new.network, NEW_COST, 1)
            ON CONFLICT (quarter, network) DO UPDATE SET cost_usd = cost_usd + excluded.cost_usd, calls = calls + 1;
    END;
    CREATE TRIGGER spend_update AFTER UPDATE OF state, meta, created_at, network ON invocations
        WHEN old.state = 'completed' OR new.state = 'completed' BEGIN
        UPDATE spend_quarters SET cost_usd = cost_usd - OLD_COST, calls = calls - 1
            WHERE old.state = 'completed' AND quarter = CAST(old.created_at / 900 AS INTEGER)
            AND network = old.network;
        INSERT INTO spend_quarters (quarter, network, cost_usd, calls)
            SELECT CAST(new.created_at / 900 AS INTEGER), new.network, NEW_COST, 1 WHERE new.state = 'completed'
            ON CONFLICT (quarter, network) DO UPDATE SET cost_usd = cost_usd + excluded.cost_usd, calls = calls + 1;
    END;
    CREATE TRIGGER spend_delete AFTER DELETE ON invocations WHEN old.state = 'completed' BEGIN
        UPDATE spend_quarters SET cost_usd = cost_usd - OLD_COST, calls = calls - 1
            WHERE quarter = CAST(old.created_at / 900 AS INTEGER) AND network = old.network;
    END;
    """.replace("NEW_COST", _clean_cost("new")).replace("OLD_COST", _clean_cost("old")),
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
