"""Windowed reads: every list newest first, paged by keyset cursors on indexed columns; per-run
totals kept by triggers (and filled in for databases made before them); hostile cursors."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from panic_edge.core.invocation import Invocation, InvocationState, Run
from panic_edge.core.media import Content, MediaType
from panic_edge.errors import CursorError
from panic_edge.store import Store, queries, writes
from panic_edge.store.migrations import MIGRATIONS, migrate


def connect(path: str | Path = ":memory:") -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.row_factory = sqlite3.Row
    migrate(conn)
    return conn


def invocation(run_id: str, seq: int, at: float, network: str = "demo", model: str = "local-poet") -> Invocation:
    return Invocation(id=f"{run_id}.{seq}", run_id=run_id, network=network, sequence=seq, model=model,
                      state=InvocationState.INVOKING, input=Content.of_text(f"in {seq}"),
                      output_type=MediaType.TEXT, created_at=at, started_at=at)


def add_run(conn: sqlite3.Connection, run_id: str, started: float, steps: int, network: str = "demo") -> None:
    writes.begin_run(conn, Run(run_id, network, f"prompt {run_id}", started))
    for seq in range(steps):
        writes.add_invocation(conn, invocation(run_id, seq, started + seq, network))
        writes.complete(conn, f"{run_id}.{seq}", Content.of_text(f"out {seq}"), started + seq + 0.5,
                        {"cost_usd": 0.01, "predict_time": 0.5})


def walk(first: queries.Window[Any], page: Callable[[str], queries.Window[Any]]) -> Iterator[Any]:
    """Every item from ``first`` on, following the ``older`` cursors."""
    window = first
    while True:
        yield from window.items
        if window.older is None:
            return
        window = page(window.older)


def test_a_run_page_shows_the_newest_steps_and_pages_back_through_every_one():
    conn = connect()
    add_run(conn, "long", 1000.0, 120)
    first = queries.run_window(conn, "long", 50)
    assert [i.sequence for i in first.items[:3]] == [119, 118, 117] and first.newer is None
    seen = [i.sequence for i in walk(first, lambda c: queries.run_window(conn, "long", 50, before=c))]
    assert seen == list(range(119, -1, -1))
    middle = queries.run_window(conn, "long", 50, before=first.older)
    back = queries.run_window(conn, "long", 50, after=middle.newer)  # the newer link returns to the first page
    assert [i.sequence for i in back.items] == [i.sequence for i in first.items] and back.newer is None


def test_history_pages_through_runs_newest_first_even_when_they_started_together():
    conn = connect()
    for n in range(30):
        add_run(conn, f"r{n:02d}", 100.0 + n // 3, 2)  # three runs share each start time
    first = queries.run_summaries(conn, 7)
    seen = [s.run.id for s in walk(first, lambda c: queries.run_summaries(conn, 7, before=c))]
    assert len(seen) == len(set(seen)) == 30
    starts = [(s.run.started_at, s.run.id) for s in walk(first, lambda c: queries.run_summaries(conn, 7, before=c))]
    assert starts == sorted(starts, reverse=True)
    second = queries.run_summaries(conn, 7, before=first.older)
    assert queries.run_summaries(conn, 7, after=second.newer).items == first.items


def test_run_totals_are_kept_by_the_database_on_every_write():
    conn = connect()
    add_run(conn, "r", 10.0, 4)
    writes.add_invocation(conn, invocation("r", 4, 20.0))
    writes.fail(conn, "r.4", "boom", 21.0)
    summary = queries.run_summary(conn, "r")
    assert summary is not None
    assert (summary.invocations, summary.failed) == (5, 1)
    assert summary.cost_usd == pytest.approx(0.04) and summary.predict_time == pytest.approx(2.0)
    assert summary.seconds == pytest.approx(11.0)  # from the start to the last finish
    writes.end_run(conn, "r", "stopped", 30.0)
    assert queries.run_summary(conn, "r").seconds == pytest.approx(20.0)
    writes.add_invocation(conn, invocation("r", 4, 22.0))  # reset to be called again: no longer failed
    assert queries.run_summary(conn, "r").failed == 0


def test_a_database_from_before_the_totals_gets_them_filled_in(tmp_path: Path):
    path = tmp_path / "old.sqlite3"
    old = sqlite3.connect(path, isolation_level=None)
    old.row_factory = sqlite3.Row
    for number, script in enumerate(MIGRATIONS[:2], start=1):
        old.executescript(f"BEGIN;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;")
    old.execute("INSERT INTO runs (id, network, prompt, started_at) VALUES ('r', 'demo', 'p', 1.0)")
    for seq, (state, meta) in enumerate([("completed", '{"cost_usd": 0.5}'), ("completed", "{}"),
                                         ("failed", "{}")]):
        old.execute("INSERT INTO invocations (id, run_id, network, sequence, model, state, input_type, "
                    "output_type, created_at, finished_at, meta) VALUES (?, 'r', 'demo', ?, 'm', ?, 'text', "
                    "'text', ?, ?, ?)", (f"r.{seq}", seq, state, 1.0 + seq, 2.0 + seq, meta))
    old.close()
    conn = connect(path)
    summary = queries.run_summary(conn, "r")
    assert summary is not None
    assert (summary.invocations, summary.failed, summary.cost_usd, summary.seconds) == (3, 1, 0.5, 3.0)


def test_a_networks_recent_invocations_page_back_across_runs():
    conn = connect()
    add_run(conn, "a", 100.0, 10)
    add_run(conn, "b", 200.0, 10)
    add_run(conn, "c", 150.0, 5, network="other")
    first = queries.network_window(conn, "demo", 8)
    assert [i.id for i in first.items[:2]] == ["b.9", "b.8"]
    seen = [i.id for i in walk(first, lambda c: queries.network_window(conn, "demo", 8, before=c))]
    assert seen == [f"b.{n}" for n in range(9, -1, -1)] + [f"a.{n}" for n in range(9, -1, -1)]


def test_replay_candidates_are_the_newest_completed_outputs_of_the_model():
    conn = connect()
    add_run(conn, "a", 100.0, 30)
    writes.add_invocation(conn, invocation("a", 30, 500.0))  # in flight: not a candidate
    found = queries.replay_candidates(conn, "local-poet", 5)
    assert [i.sequence for i in found] == [29, 28, 27, 26, 25]


@pytest.mark.parametrize("sql, params", [
    ("SELECT * FROM invocations WHERE run_id = ? AND sequence < ? ORDER BY sequence DESC LIMIT 51", ("r", 9)),
    ("SELECT * FROM runs WHERE (started_at, id) < (?, ?) ORDER BY started_at DESC, id DESC LIMIT 26", (1.0, "r")),
    (("SELECT * FROM invocations WHERE network = ? AND (created_at, sequence) < (?, ?) "
     "ORDER BY created_at DESC, sequence DESC LIMIT 17"), ("demo", 1.0, 3)),
    ("SELECT * FROM invocations WHERE model = ? AND state = 'completed' ORDER BY created_at DESC LIMIT 200",
     ("local-poet",)),
    ("SELECT * FROM runs WHERE ended_at IS NULL ORDER BY started_at DESC", ()),
])
def test_every_windowed_read_walks_an_index_without_sorting(sql, params):
    plan = " | ".join(queries.plan(connect(), sql, params))
    assert "USING" in plan and "INDEX" in plan and "TEMP B-TREE" not in plan, plan


@settings(max_examples=200, deadline=None)
@given(cursor=st.text(max_size=80) | st.from_regex(r"-?[0-9.e+inf]{1,25}:[0-9a-z]{0,12}", fullmatch=True))
def test_any_cursor_gives_a_window_or_a_cursor_error(cursor: str):
    conn = connect()
    for read in (lambda: queries.run_window(conn, "r", 5, before=cursor),
                 lambda: queries.run_window(conn, "r", 5, after=cursor),
                 lambda: queries.run_summaries(conn, 5, before=cursor),
                 lambda: queries.run_summaries(conn, 5, after=cursor),
                 lambda: queries.network_window(conn, "demo", 5, before=cursor)):
        try:
            assert read().items == []
        except CursorError as err:
            assert "cursor" in str(err) or "step number" in str(err)


async def test_the_async_store_reads_the_same_windows(tmp_path: Path):
    async with Store.open(tmp_path / "db.sqlite3") as store:
        await store.write(lambda conn: add_run(conn, "r", 10.0, 12))
        window = await store.run_window("r", 5)
        assert [i.sequence for i in window.items] == [11, 10, 9, 8, 7] and window.older == "7"
        summary = await store.run_summary("r")
        assert summary is not None and summary.invocations == 12
        assert [s.run.id for s in (await store.run_summaries()).items] == ["r"]
