"""How long the Spend page's query takes on a week of history: ``spend_by_hour`` over 1, 7 and 31
days on a real SQLite file holding a week of invocations at the loop's fastest pace (one a
second, every one with a ``cost_usd``), beside a bare ``count(*)`` of the same calls by their
``created_at`` index (what any query summing the calls themselves costs at least: the page reads
the quarter-hour rollup that migration 7's triggers keep instead)."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from bench.common import goal, latency_stats
from panic_edge.store.migrations import migrate
from panic_edge.store.spend import spend_by_hour

DAY = 86400.0
GOAL_SECONDS = 1.0  # the page renders within a second, a week at one invocation a second


def _fill(path: Path, days: float, per_second: float, now: float) -> int:
    conn = sqlite3.connect(path)
    migrate(conn)
    count = int(days * DAY * per_second)
    start = now - days * DAY
    conn.execute("INSERT INTO runs (id, network, prompt, started_at) VALUES ('r', 'gallery', 'p', ?)", (start,))
    meta = json.dumps({"platform": "replicate", "id": "p1", "predict_time": 1.5, "cost_usd": 0.003})
    rows = ((f"i{i}", "r", ("gallery", "music", "words")[i % 3], i, start + i / per_second, start + i / per_second + 1,
             meta) for i in range(count))
    conn.executemany("INSERT INTO invocations (id, run_id, network, sequence, model, state, input_type, input_text, "
                     "output_type, output_text, created_at, finished_at, meta) VALUES (?, ?, ?, ?, 'm', 'completed', "
                     "'text', 'a prompt of some length', 'text', 'an answer of a sentence or two', ?, ?, ?)", rows)
    conn.commit()
    conn.close()
    return count


def run(broker: Any, work: Path, quick: bool) -> dict[str, Any]:
    days = 1.0 if quick else 7.0
    now = time.time()
    path = work / "spend.sqlite3"
    began = time.monotonic()
    rows = _fill(path, days, 1.0, now)
    filled = time.monotonic() - began
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    result: dict[str, Any] = {"invocations": rows, "history_days": days, "database_mb": round(path.stat().st_size / 1e6, 1),
                              "fill_seconds": round(filled, 1)}
    for window in (1, 7, 31):
        timings, floor = [], []
        for _ in range(3 if quick else 5):
            t = time.perf_counter()
            found = spend_by_hour(conn, now - window * DAY, now)
            timings.append(time.perf_counter() - t)
            t = time.perf_counter()
            conn.execute("SELECT count(*) FROM invocations WHERE created_at >= ? AND created_at < ?",
                         (now - window * DAY, now)).fetchone()
            floor.append(time.perf_counter() - t)
        result[f"window_{window}d"] = {"query": latency_stats(timings), "count_floor": latency_stats(floor),
                                       "buckets": len(found)}
    conn.close()
    week = result["window_7d"]["query"]["median_ms"]
    result["met"] = goal(week is not None and week < GOAL_SECONDS * 1e3,
                         f"a week's spend by hour in under {GOAL_SECONDS:g} s ({days:g} days of history)")
    return result
