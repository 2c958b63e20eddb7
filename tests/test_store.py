"""The SQLite store on real files: migrations, WAL, commits that survive a restart, recovery."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from panic_edge.core.invocation import Invocation, InvocationState, Run
from panic_edge.core.media import Content, MediaType
from panic_edge.store import Store
from panic_edge.store.migrations import MIGRATIONS, migrate


def invocation(run_id: str, seq: int, state=InvocationState.READY) -> Invocation:
    return Invocation(id=f"{run_id}.{seq}", run_id=run_id, network="demo", sequence=seq, model="local-poet",
                      state=state, input=Content.of_text("in"), output_type=MediaType.TEXT,
                      created_at=100.0 + seq)


async def test_a_new_database_is_migrated_to_the_latest_schema_in_wal_mode(tmp_path: Path):
    async with Store.open(tmp_path / "db.sqlite3"):
        pass
    conn = sqlite3.connect(tmp_path / "db.sqlite3")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_database_newer_than_the_code_is_refused(tmp_path: Path):
    conn = sqlite3.connect(tmp_path / "db.sqlite3")
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(RuntimeError, match="newer than this panic-edge"):
        migrate(conn)


async def test_runs_and_invocations_survive_a_restart(tmp_path: Path):
    path = tmp_path / "db.sqlite3"
    async with Store.open(path) as store:
        await store.begin_run(Run("r1", "demo", "a camel", 100.0))
        await store.add_invocation(invocation("r1", 0))
        await store.mark_invoking("r1.0", 100.5)
        await store.complete("r1.0", Content.of_text("a verse"), 101.0, {"predict_time": 0.5})
        await store.end_run("r1", "stopped", 102.0)
    async with Store.open(path) as store:
        [inv] = await store.run_invocations("r1")
        assert inv.state is InvocationState.COMPLETED
        assert inv.output == Content.of_text("a verse")
        assert inv.meta == {"predict_time": 0.5} and inv.seconds == pytest.approx(0.5)
        run = await store.get_run("r1")
        assert run is not None and run.end_reason == "stopped"


async def test_a_finished_invocation_cannot_be_changed_again(tmp_path: Path):
    async with Store.open(tmp_path / "db.sqlite3") as store:
        await store.begin_run(Run("r1", "demo", "p", 1.0))
        await store.add_invocation(invocation("r1", 0))
        assert await store.fail("r1.0", "cancelled", 2.0)
        assert not await store.complete("r1.0", Content.of_text("late"), 3.0)
        assert (await store.get_invocation("r1.0")).error == "cancelled"


async def test_open_runs_are_listed_with_their_last_invocation(tmp_path: Path):
    async with Store.open(tmp_path / "db.sqlite3") as store:
        await store.begin_run(Run("r1", "demo", "p", 1.0))
        await store.add_invocation(invocation("r1", 0))
        await store.add_invocation(invocation("r1", 1))
        await store.begin_run(Run("r2", "demo", "q", 2.0))
        await store.end_run("r2", "stopped", 3.0)
        [(run, last)] = await store.open_runs()
        assert run.id == "r1" and last is not None and last.sequence == 1


async def test_an_invocation_added_again_is_reset_to_ready(tmp_path: Path):
    async with Store.open(tmp_path / "db.sqlite3") as store:
        await store.begin_run(Run("r1", "demo", "p", 1.0))
        await store.add_invocation(invocation("r1", 0))
        await store.mark_invoking("r1.0", 1.5)
        await store.add_invocation(invocation("r1", 0))
        again = await store.get_invocation("r1.0")
        assert again is not None and again.state is InvocationState.READY and again.started_at is None


async def test_the_outbox_lists_what_the_broker_has_not_acknowledged(tmp_path: Path):
    async with Store.open(tmp_path / "db.sqlite3") as store:
        await store.begin_run(Run("r1", "demo", "p", 1.0))
        for seq in range(3):
            await store.add_invocation(invocation("r1", seq))
        await store.mark_published([("r1.0", "ready"), ("r1.1", "ready")])
        await store.mark_invoking("r1.1", 2.0)
        assert [i.id for i in await store.unpublished()] == ["r1.1", "r1.2"]


async def test_recent_invocations_are_newest_first(tmp_path: Path):
    async with Store.open(tmp_path / "db.sqlite3") as store:
        await store.begin_run(Run("r1", "demo", "p", 1.0))
        for seq in range(5):
            await store.add_invocation(invocation("r1", seq))
        recent = await store.recent_invocations("demo", limit=3)
        assert [i.sequence for i in recent] == [4, 3, 2]
        assert await store.count_invocations("demo") == 5


async def test_run_totals_sum_cost_and_timing_over_completed_invocations(tmp_path: Path):
    async with Store.open(tmp_path / "db.sqlite3") as store:
        await store.begin_run(Run("r1", "demo", "p", 1.0))
        await store.begin_run(Run("r2", "demo", "p", 1.0))
        metas = [{"predict_time": 1.5, "cost_usd": 0.003},
                 {"predict_time": 0.5, "input_tokens": 20, "output_tokens": 8, "cost_usd": 0.0001},
                 {"predict_time": 2.0}]  # no price known: counts for time, not dollars
        for seq, meta in enumerate(metas):
            await store.add_invocation(invocation("r1", seq))
            await store.complete(f"r1.{seq}", Content.of_text("x"), 5.0, meta)
        await store.add_invocation(invocation("r1", 3))
        await store.fail("r1.3", "boom", 6.0)
        await store.add_invocation(invocation("r2", 0))
        await store.complete("r2.0", Content.of_text("x"), 5.0, {"predict_time": 9.0, "cost_usd": 1.0})
        assert await store.run_totals("r1") == {"invocations": 3, "predict_time": 4.0, "input_tokens": 20,
                                                "output_tokens": 8, "cost_usd": 0.0031}
        assert (await store.run_totals("nope"))["invocations"] == 0


async def test_every_write_is_committed_when_it_returns(tmp_path: Path):
    path = tmp_path / "db.sqlite3"
    async with Store.open(path) as store:
        await store.begin_run(Run("r1", "demo", "p", 1.0))
        await store.add_invocation(invocation("r1", 0))
        await store.mark_invoking("r1.0", 1.5)
        other = sqlite3.connect(path)  # a second connection sees only what is committed
        assert other.execute("SELECT state FROM invocations WHERE id = 'r1.0'").fetchone() == ("invoking",)
        other.close()


async def test_an_update_returns_the_invocation_as_it_now_stands(tmp_path: Path):
    async with Store.open(tmp_path / "db.sqlite3") as store:
        await store.begin_run(Run("r1", "demo", "p", 1.0))
        await store.add_invocation(invocation("r1", 0))
        invoking = await store.mark_invoking("r1.0", 1.5)
        assert invoking is not None and invoking.state is InvocationState.INVOKING
        done = await store.complete("r1.0", Content.of_text("a verse"), 2.0, {"cost_usd": 0.0})
        assert done == await store.get_invocation("r1.0")
        assert done is not None and done.output == Content.of_text("a verse")
        assert await store.mark_invoking("r1.0", 3.0) is None
