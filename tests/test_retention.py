"""Retention rules, pure: what to delete to keep the archive within its bounds."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from panic_edge.core.retention import Limits, StoredFile, bytes_to_free, choose


def f(name: str, size: int = 100, running: bool = False) -> StoredFile:
    return StoredFile(name, "demo", f"demo/{name}.png", size, running)


def test_nothing_goes_while_both_bounds_hold():
    assert bytes_to_free(900, 10_000, Limits(max_bytes=1000, min_free_bytes=5000)) == 0
    assert choose([f("a")], 0) == []


def test_the_bigger_of_the_two_shortfalls_is_freed():
    limits = Limits(max_bytes=1000, min_free_bytes=5000)
    assert bytes_to_free(1300, 10_000, limits) == 300
    assert bytes_to_free(900, 4000, limits) == 1000


def test_ended_runs_go_first_oldest_first_then_the_running_run():
    files = [f("r1", running=True), f("e1"), f("r2", running=True), f("e2")]
    assert [x.invocation_id for x in choose(files, 150)] == ["e1", "e2"]
    assert [x.invocation_id for x in choose(files, 250)] == ["e1", "e2", "r1"]


@given(st.lists(st.tuples(st.integers(1, 10_000), st.booleans()), max_size=30), st.integers(0, 100_000))
def test_enough_is_freed_when_it_can_be_and_no_more_than_one_file_too_many(sizes, need):
    files = [f(str(i), size, running) for i, (size, running) in enumerate(sizes)]
    chosen = choose(files, need)
    freed = sum(x.size for x in chosen)
    if sum(x.size for x in files) >= need:
        assert freed >= need
        if chosen:
            assert freed - chosen[-1].size < need or not any(x.running for x in chosen)
    else:
        assert chosen == [] or freed < need
    ended = [x for x in chosen if not x.running]
    if any(x.running for x in chosen):  # the running run is only touched once every ended file has gone
        assert ended == [x for x in files if not x.running]


# --- the candidates in the database, in the order they should go ------------------------------

import sqlite3  # noqa: E402

from panic_edge.core.invocation import Invocation, Run  # noqa: E402
from panic_edge.core.media import Content, MediaType  # noqa: E402
from panic_edge.store import retention as queries  # noqa: E402
from panic_edge.store import writes  # noqa: E402
from panic_edge.store.migrations import migrate  # noqa: E402


def picture_run(conn: sqlite3.Connection, run_id: str, started: float, steps: int, ended: bool) -> None:
    writes.begin_run(conn, Run(run_id, "demo", "a prompt", started))
    for seq in range(steps):
        at = started + seq
        writes.add_invocation(conn, Invocation(f"{run_id}.{seq}", run_id, "demo", seq, "local-painter",
                                               InvocationState.INVOKING, Content.of_text("in"), MediaType.IMAGE,
                                               created_at=at, started_at=at))
        writes.complete(conn, f"{run_id}.{seq}", Content(MediaType.IMAGE, file=f"demo/{run_id}.{seq}.png"), at + 0.5)
    if ended:
        writes.end_run(conn, run_id, "stopped", started + steps)


def test_ended_runs_files_are_offered_before_an_older_running_runs_even_past_a_passs_limit():
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.row_factory = sqlite3.Row
    migrate(conn)
    picture_run(conn, "live", 0.0, 10, ended=False)  # a long run still going: its files are the oldest
    picture_run(conn, "done", 100.0, 10, ended=True)
    picture_run(conn, "newest", 200.0, 3, ended=True)  # the screens may show these
    offered = queries.candidates(conn, keep_newest=3, limit=5)
    assert [c.invocation_id for c in offered] == [f"done.{i}" for i in range(5)]  # not live.0 ... live.4
    everything = queries.candidates(conn, keep_newest=3)
    assert [c.invocation_id for c in everything] == ([f"done.{i}" for i in range(10)]
                                                     + [f"live.{i}" for i in range(10)])
    assert [c.invocation_id for c in queries.candidates(conn, 3, 2, exclude={"done.0"})] == ["done.1", "done.2"]


# --- the worker, on a real daemon's store and archive ----------------------------------------

import asyncio  # noqa: E402

from panic_edge import cli  # noqa: E402
from panic_edge.core.invocation import InvocationState  # noqa: E402
from panic_edge.daemon.retention import Retention  # noqa: E402
from panic_edge.store import Store  # noqa: E402
from tests.conftest import start_daemon  # noqa: E402


async def files_of(store: Store, run_id: str) -> list:
    return [i for i in await store.run_invocations(run_id) if i.output is not None and i.output.file]


async def archived_run(config, prompt: str, files: int) -> str:
    """A run of the demo on a daemon of ``config`` until it has archived ``files`` files; then stopped."""
    running = await start_daemon(config)
    try:
        run_id = await running.engine.start("demo", prompt)
        async with asyncio.timeout(20):
            while len(await files_of(running.engine.store, run_id)) < files:
                await asyncio.sleep(0.05)
        await running.engine.stop("demo")
    finally:
        await running.stop()
    return run_id


async def test_retention_prunes_the_oldest_files_keeps_the_newest_and_marks_the_rows(make_config):
    config = make_config(PANIC_EDGE_LOCAL_MODELS_LATENCY="0")
    running = await start_daemon(config)
    engine = running.engine
    try:
        old = await engine.start("demo", "an old run")
        async with asyncio.timeout(20):
            while len(await files_of(engine.store, old)) < 8:
                await asyncio.sleep(0.05)
        await engine.stop("demo")
        new = await engine.start("demo", "the run going on")
        async with asyncio.timeout(20):
            while len(await files_of(engine.store, new)) < 4:
                await asyncio.sleep(0.05)
        await engine.stop("demo")
    finally:
        await running.stop()
    async with Store.open(config.database_path) as store:
        total = (await Retention(store, config.archive_dir, Limits()).usage()).bytes
        retention = Retention(store, config.archive_dir, Limits(max_bytes=total // 2, min_free_bytes=0,
                                                                keep_newest=3))
        done = await retention.check()
        assert (await retention.usage()).bytes == done.archive_bytes <= total // 2
        steps = await files_of(store, old) + await files_of(store, new)
    pruned = [i for i in steps if "pruned" in i.output.flags]
    kept = [i for i in steps if "pruned" not in i.output.flags]
    assert pruned and done.pruned == len(pruned)
    assert all(not (config.archive_dir / i.output.file).exists() for i in pruned)
    assert all((config.archive_dir / i.output.file).exists() for i in kept)
    assert all(i.state is InvocationState.COMPLETED for i in pruned)  # the rows stay
    newest = sorted(steps, key=lambda i: i.created_at)[-3:]
    assert not {i.id for i in newest} & {i.id for i in pruned}  # what the screens may still show
    oldest_first = sorted(steps, key=lambda i: i.created_at)
    assert oldest_first[:len(pruned)] == sorted(pruned, key=lambda i: i.created_at)  # the oldest went


async def test_panic_edge_archive_shows_usage_and_prunes_on_demand(make_config, capsys, monkeypatch):
    config = make_config(PANIC_EDGE_LOCAL_MODELS_LATENCY="0", PANIC_EDGE_ARCHIVE_KEEP_NEWEST="2")
    await archived_run(config, "a run to archive", 6)
    for key, value in {"PANIC_EDGE_DATA_DIR": str(config.data_dir), "PANIC_EDGE_ARCHIVE_KEEP_NEWEST": "2",
                       "PANIC_EDGE_ARCHIVE_MAX_BYTES": "1kB", "PANIC_EDGE_ARCHIVE_MIN_FREE_BYTES": "0"}.items():
        monkeypatch.setenv(key, value)
    assert await asyncio.to_thread(cli.main, ["archive"]) == 0
    shown = capsys.readouterr().out
    assert "files (0 older outputs pruned so far)" in shown and "demo:" in shown
    assert "at most 1.0 kB" in shown  # binary units, as the config reads "1kB" (and df shows), not 0.0 MB
    assert await asyncio.to_thread(cli.main, ["archive", "--prune"]) == 0
    shown = capsys.readouterr().out
    assert "pruned" in shown and "could not free" in shown  # only the 2 newest are left, over 1 kB


def test_archive_says_so_when_there_is_no_database_yet(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PANIC_EDGE_DATA_DIR", str(tmp_path / "nothing-yet"))
    assert cli.main(["archive"]) == 2
    assert "there is no database" in capsys.readouterr().err


async def test_health_knows_the_archives_size_from_the_start_not_from_the_first_pass(make_config):
    from panic_edge.clock import SYSTEM
    from panic_edge.daemon.day import GalleryDay

    config = make_config(PANIC_EDGE_LOCAL_MODELS_LATENCY="0")
    await archived_run(config, "a run to measure", 4)
    on_disk = sum(p.stat().st_size for p in config.archive_dir.rglob("*") if p.is_file())
    async with Store.open(config.database_path) as store:
        day = GalleryDay(config, SYSTEM, store, paid=lambda slug: False, attract_network=lambda: "demo",
                         new_id=lambda: "unused")
        # what the daemon does before its tasks (retention's first pass) begin; open, no caps: no engine needed
        await day.start(None)  # type: ignore[arg-type]  # nothing to tell an engine
        assert day.status()["health"]["archive_bytes"] == on_disk > 0
