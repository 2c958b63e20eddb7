"""Spend and warm-up queries, as plain functions of a sqlite3 connection (any thread, any
connection: the admin page's read-only ones, the writer's). Every read is a window of at most 31
days: of the quarter-hour rollup of calls (``spend_quarters``), and of warm-ups by ``started_at``."""

from __future__ import annotations

import json
import math
import sqlite3

from panic_edge.core.prewarm import Warmup
from panic_edge.core.spend import HOUR, MAX_CALL_USD, MAX_HOURS, PREWARMING, SpendRow

QUARTER = 900  # seconds: the rollup's buckets (migration 7)

# one row per network and hour bucket: calls from the quarter-hour rollup (migration 7, kept by
# triggers), warm-ups (a few a day) from their own rows; a cost that is not a number from 0 to
# MAX_CALL_USD counts 0
SPEND_BY_HOUR = f"""
    SELECT network, CAST((quarter * {QUARTER} - :since) / {HOUR} AS INTEGER) AS bucket, total(cost_usd), sum(calls)
    FROM spend_quarters WHERE quarter >= :first AND quarter < :last GROUP BY network, bucket
    UNION ALL
    SELECT :prewarming, CAST((started_at - :since) / {HOUR} AS INTEGER) AS bucket,
           total(CASE WHEN typeof(json_extract(meta, '$.cost_usd')) IN ('integer', 'real')
                      AND json_extract(meta, '$.cost_usd') BETWEEN 0 AND {MAX_CALL_USD}
                      THEN json_extract(meta, '$.cost_usd') END),
           count(*)
    FROM warmups WHERE started_at >= :since AND started_at < :until GROUP BY bucket"""

INSERT_WARMUP = ("INSERT OR REPLACE INTO warmups (id, model, reason, state, error, started_at, finished_at, meta) "
                 "VALUES (?, ?, ?, ?, ?, ?, ?, ?)")


def spend_by_hour(conn: sqlite3.Connection, since: float, until: float) -> list[SpendRow]:
    """Completed invocations per network, and warm-ups (network ``PREWARMING``), per hour bucket
    counted from ``since``, with their summed ``meta.cost_usd``. The window is cut to its last
    31 days. Calls count by the quarter hour of their ``created_at``: a window starting on a
    quarter hour (any local midnight) counts exactly the calls created in it."""
    since = max(since, until - MAX_HOURS * HOUR)
    first, last = math.ceil(since / QUARTER), math.ceil(until / QUARTER)  # the quarters that start in it
    rows = conn.execute(SPEND_BY_HOUR, {"since": since, "until": until, "first": first, "last": last,
                                        "prewarming": PREWARMING})
    return [SpendRow(str(network), int(bucket), float(cost), int(calls)) for network, bucket, cost, calls in rows]


def warmup_params(w: Warmup) -> tuple[object, ...]:
    return (w.id, w.model, w.reason, "completed" if w.ok else "failed", w.error, w.started_at, w.finished_at,
            json.dumps(dict(w.meta)))


def record_warmup(conn: sqlite3.Connection, w: Warmup) -> None:
    """Keep one warm-up call (idempotent: the same id again replaces it)."""
    conn.execute(INSERT_WARMUP, warmup_params(w))


def recent_calls(conn: sqlite3.Connection, since: float) -> dict[str, tuple[float | None, float | None]]:
    """Per model, since ``since``: its last successful call (an invocation or a warm-up, replays
    left out) and its last warm-up attempt. What a restarted daemon knows of the models' warmth."""
    found: dict[str, tuple[float | None, float | None]] = {}
    invocations = conn.execute(
        "SELECT model, max(finished_at) FROM invocations WHERE created_at >= ? AND state = 'completed' "
        "AND output_flags NOT LIKE '%\"replay\"%' GROUP BY model", (since,))
    for model, last in invocations:
        found[str(model)] = (last, None)
    warmups = conn.execute("SELECT model, max(CASE WHEN state = 'completed' THEN finished_at END), "
                           "max(started_at) FROM warmups WHERE started_at >= ? GROUP BY model", (since,))
    for model, last_ok, attempt in warmups:
        called, _ = found.get(str(model), (None, None))
        latest = max((t for t in (called, last_ok) if t is not None), default=None)
        found[str(model)] = (latest, attempt)
    return found
