"""The one writer thread on a real SQLite file: group commit, each write rolled back alone, nothing
reported before its commit, reads that never wait behind a write, writes that survive a cancel."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

from panic_edge.core.invocation import Run
from panic_edge.store import Store, writes
from panic_edge.store.writer import settle


def insert_run(run_id: str):
    return lambda conn: writes.begin_run(conn, Run(run_id, "demo", "p", 1.0))


def run_ids(path: Path) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        return {row[0] for row in conn.execute("SELECT id FROM runs")}
    finally:
        conn.close()


def blocker(entered: threading.Event, release: threading.Event):
    """A write that holds the writer (and its transaction) until ``release`` is set."""
    def fn(conn: sqlite3.Connection) -> None:
        writes.begin_run(conn, Run("first", "demo", "p", 1.0))
        entered.set()
        assert release.wait(10)
    return fn


async def test_writes_queued_while_the_writer_is_busy_share_one_commit(tmp_path: Path):
    async with Store.open(tmp_path / "db.sqlite3") as store:
        entered, release = threading.Event(), threading.Event()
        first = store.submit(blocker(entered, release))
        assert await asyncio.to_thread(entered.wait, 10)
        before = store.writer.commits
        queued = [store.submit(insert_run(f"r{n}")) for n in range(20)]
        release.set()
        await asyncio.gather(first, *queued)
        assert store.writer.commits == before + 2  # the blocker's commit, then one for all twenty
        assert run_ids(store.path) == {"first", *(f"r{n}" for n in range(20))}


async def test_a_write_that_raises_is_rolled_back_alone(tmp_path: Path):
    def half_then_fail(conn: sqlite3.Connection) -> None:
        writes.begin_run(conn, Run("half", "demo", "p", 1.0))
        raise ValueError("a bug in one write")

    async with Store.open(tmp_path / "db.sqlite3") as store:
        entered, release = threading.Event(), threading.Event()
        first = store.submit(blocker(entered, release))
        assert await asyncio.to_thread(entered.wait, 10)
        group = [store.submit(insert_run("a")), store.submit(half_then_fail), store.submit(insert_run("b"))]
        release.set()
        outcomes = await asyncio.gather(first, *group, return_exceptions=True)
        assert isinstance(outcomes[2], ValueError)
        assert run_ids(store.path) == {"first", "a", "b"}  # "half" was undone, its neighbours kept


async def test_a_write_that_loses_the_transaction_fails_alone_and_the_others_commit(tmp_path: Path):
    def lose_the_transaction(conn: sqlite3.Connection) -> None:
        conn.execute("ROLLBACK")  # what SQLite does by itself on some I/O errors
        raise sqlite3.OperationalError("disk I/O error")

    async with Store.open(tmp_path / "db.sqlite3") as store:
        entered, release = threading.Event(), threading.Event()
        first = store.submit(blocker(entered, release))
        assert await asyncio.to_thread(entered.wait, 10)
        group = [store.submit(insert_run("before")), store.submit(lose_the_transaction),
                 store.submit(insert_run("after"))]
        release.set()
        outcomes = await asyncio.gather(*group, return_exceptions=True)
        assert outcomes[0] is None and outcomes[2] is None  # run again in a transaction of their own
        assert isinstance(outcomes[1], sqlite3.OperationalError)
        await first
        assert run_ids(store.path) == {"first", "before", "after"}


async def test_a_write_is_reported_only_once_another_connection_can_see_it(tmp_path: Path):
    async with Store.open(tmp_path / "db.sqlite3") as store:
        seen: list[set[str]] = []
        futures = []
        for n in range(30):
            future = store.submit(insert_run(f"r{n}"))
            def unseen(_: object, n: int = n) -> None:
                seen.append({f"r{n}"} - run_ids(store.path))

            future.add_done_callback(unseen)
            futures.append(future)
        await asyncio.gather(*futures)
        assert seen == [set()] * 30  # every run was already committed when its future resolved


async def test_reads_do_not_wait_behind_a_write_in_progress(tmp_path: Path):
    async with Store.open(tmp_path / "db.sqlite3") as store:
        await store.begin_run(Run("old", "demo", "p", 1.0))
        entered, release = threading.Event(), threading.Event()
        holding = store.submit(blocker(entered, release))
        assert await asyncio.to_thread(entered.wait, 10)
        try:
            # the writer holds an open transaction: the read answers from the last commit
            assert [r.id for r in await asyncio.wait_for(store.runs(), 10)] == ["old"]
            assert await asyncio.wait_for(store.get_run("first"), 10) is None
        finally:
            release.set()
        await holding
        assert await store.get_run("first") is not None  # and a read after the write sees it


async def test_a_cancelled_caller_still_learns_that_its_write_committed(tmp_path: Path):
    async with Store.open(tmp_path / "db.sqlite3") as store:
        entered, release = threading.Event(), threading.Event()
        outcome: list[tuple[None, bool]] = []

        async def caller() -> None:
            outcome.append(await settle(store.submit(blocker(entered, release))))

        task = asyncio.create_task(caller())
        assert await asyncio.to_thread(entered.wait, 10)
        task.cancel()
        await asyncio.sleep(0.05)
        assert not task.done()  # it waits for the commit rather than walk away from it
        release.set()
        await asyncio.wait_for(task, 10)
        assert outcome == [(None, True)]  # committed, and the cancellation is handed back
        assert run_ids(store.path) == {"first"}


async def test_closing_the_store_commits_what_was_queued(tmp_path: Path):
    path = tmp_path / "db.sqlite3"
    async with Store.open(path) as store:
        futures = [store.submit(insert_run(f"r{n}")) for n in range(10)]
    assert all(f.done() and f.exception() is None for f in futures)
    assert run_ids(path) == {f"r{n}" for n in range(10)}


async def test_a_write_alone_in_its_group_that_raises_leaves_nothing_behind(tmp_path: Path):
    def half_then_fail(conn: sqlite3.Connection) -> None:
        writes.begin_run(conn, Run("half", "demo", "p", 1.0))
        raise ValueError("a bug")

    async with Store.open(tmp_path / "db.sqlite3") as store:
        try:
            await store.write(half_then_fail)
        except ValueError:
            pass
        await store.write(insert_run("next"))  # the writer is not stuck in the failed transaction
        assert run_ids(store.path) == {"next"}


async def test_committing_is_called_on_the_loop_before_the_write_is_reported(tmp_path: Path):
    async with Store.open(tmp_path / "db.sqlite3") as store:
        seen: list[bool] = []
        future = store.submit(insert_run("r"), committing=lambda: seen.append(future.done()))
        await future
        assert seen[0] is False  # called as the commit began: before the caller heard of it


async def test_committing_is_called_again_when_no_write_follows(tmp_path: Path):
    async with Store.open(tmp_path / "db.sqlite3") as store:
        calls: list[int] = []
        await store.submit(insert_run("r"), committing=lambda: calls.append(1))
        async with asyncio.timeout(5):  # the writer, idle after the commit, says so
            while len(calls) < 2:
                await asyncio.sleep(0.001)
        assert calls == [1, 1]


async def test_a_background_write_joins_the_next_commit_of_other_writes(tmp_path: Path):
    """Insight's results never cost a commit (an fsync) of their own while the loop is writing."""
    async with Store.open(tmp_path / "db.sqlite3") as store:
        before = store.writer.commits
        background = store.submit(insert_run("insight"), background=True)
        await asyncio.sleep(0)
        await store.write(insert_run("loop"))
        await background
        assert store.writer.commits == before + 1 and run_ids(store.path) == {"insight", "loop"}


async def test_a_background_write_alone_still_commits(tmp_path: Path):
    async with Store.open(tmp_path / "db.sqlite3") as store:
        async with asyncio.timeout(10):
            await store.submit(insert_run("insight"), background=True)  # no other write comes: it goes alone
        assert run_ids(store.path) == {"insight"}
        calls: list[int] = []
        await store.submit(insert_run("loop"), committing=lambda: calls.append(1))
        store.submit(insert_run("later"), background=True)  # arriving in the quiet after a commit
        async with asyncio.timeout(5):
            while len(calls) < 2:  # does not hide that quiet from the committing callback
                await asyncio.sleep(0.001)
    assert run_ids(tmp_path / "db.sqlite3") == {"insight", "loop", "later"}
