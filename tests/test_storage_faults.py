"""A full disk or an unwritable archive: the loop pauses, says why, and goes on when it clears."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import start_daemon


async def until(condition, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


@pytest.mark.allow_errors
async def test_an_unwritable_archive_pauses_the_loop_until_it_is_writable(make_config, tmp_path):
    networks = tmp_path / "networks"
    networks.mkdir()
    (networks / "fresh.toml").write_text('name = "Fresh"\nmodels = ["local-painter", "local-captioner"]\n')
    config = make_config(PANIC_EDGE_NETWORKS_DIR=str(networks))
    folder = config.archive_dir / "fresh"
    folder.parent.mkdir(parents=True, exist_ok=True)
    folder.write_text("a file where the network's archive folder should be")
    running = await start_daemon(config)
    engine = running.engine
    engine.storage_retry_max = 0.2
    try:
        run_id = await engine.start("fresh", "a lighthouse")
        await until(lambda: engine.storage_problem is not None)
        assert "cannot write" in running.daemon.status()["storage_problem"]
        await asyncio.sleep(0.3)  # give a broken loop the chance to move on; it must not
        assert engine.states["fresh"].run.sequence == 0
        assert (await engine.store.get_invocation(f"{run_id}.0")).state.value == "invoking"
        folder.unlink()
        await until(lambda: engine.states["fresh"].run.sequence >= 3)
        assert engine.storage_problem is None
        invocations = await engine.store.run_invocations(run_id)
        assert [i.sequence for i in invocations] == list(range(len(invocations)))
        assert all(i.state.value == "completed" for i in invocations[:-1])
    finally:
        await running.stop()


@pytest.mark.allow_errors
async def test_a_full_database_pauses_the_loop_and_loses_nothing(make_config):
    running = await start_daemon(make_config())
    engine = running.engine
    engine.storage_retry_max = 0.2
    store = engine.store  # a real SQLite limit on the writer's own connection: the disk is "full"

    def limit(pages: int | None):
        def fn(conn):
            conn.execute(f"PRAGMA max_page_count = {pages or conn.execute('PRAGMA page_count').fetchone()[0]}")
        return fn

    try:
        run_id = await engine.start("demo", "a red bicycle")
        await until(lambda: engine.states["demo"].run.sequence >= 2)
        await store.write(limit(None))
        await until(lambda: engine.storage_problem is not None)
        assert "database or disk is full" in engine.storage_problem
        await store.write(limit(1073741823))
        await until(lambda: engine.storage_problem is None)
        before = engine.states["demo"].run.sequence
        await until(lambda: engine.states["demo"].run.sequence >= before + 2)
        invocations = await engine.store.run_invocations(run_id)
        assert [i.sequence for i in invocations] == list(range(len(invocations)))
        assert all(i.state.value == "completed" for i in invocations[:-1])
    finally:
        await running.stop()
