"""A really full disk: retention frees it without asking the database first, and the loop goes on.

When the disk is full SQLite refuses every write, so a retention pass that began with one (recording
the sizes of new files) freed nothing and the loop stayed paused for good. A pass now only reads
until it has deleted files, then records the sizes and the pruned marks in one write, which a later
pass makes again if it is refused. A file deleted but not yet marked is calm everywhere: the media
server and the screens show the pruned placeholder, and replay never picks it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pygame
import pytest

from panic_edge.core.retention import Limits
from panic_edge.daemon.retention import Retention
from panic_edge.nodes.messages import Shown
from panic_edge.nodes.screen.gallery import NOW
from panic_edge.nodes.screen.media import MediaCache
from panic_edge.nodes.screen.render import render
from panic_edge.nodes.view import View
from tests.conftest import start_daemon

MB = 1024**2


async def until(condition, timeout: float = 30.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


def on_disk(folder: Path) -> int:
    """The archive's bytes as the filesystem has them (what retention must keep in bounds)."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.exists() else 0


async def outputs(store, run_id: str) -> list:
    return [i for i in await store.run_invocations(run_id) if i.output is not None and i.output.file]


async def make_history(engine, ended_files: int = 12, running_files: int = 4) -> tuple[str, str]:
    """An ended run and a running one, each with image files in the archive."""
    old = await engine.start("demo", "an old run")
    await until(lambda: engine.states["demo"].run.sequence >= 2 * ended_files + 1)
    await engine.stop("demo")
    new = await engine.start("demo", "the run going on")
    await until(lambda: engine.states["demo"].run.sequence >= 2 * running_files + 1)
    await engine.stop("demo")
    return old, new


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 24 MB filesystem (tmpfs), so the disk can really be full. Needs root (CAP_SYS_ADMIN)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root")
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m,mode=0700", "tmpfs", str(mount)],
                          capture_output=True, text=True, check=False)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.strip()[:200]}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(path: Path) -> int:
    """Write ``path`` until the disk refuses (something else filling the card: logs, a download)."""
    written = 0
    with contextlib.suppress(OSError), open(path, "wb") as fh:  # closing flushes: it may refuse too
        while True:
            fh.write(b"\0" * 65536)
            fh.flush()
            written += 65536
    return written


@pytest.mark.allow_errors  # the storage fault is logged as an error, as it should be
@pytest.mark.timeout(180)
async def test_a_really_full_disk_is_freed_by_retention_and_the_loop_goes_on_by_itself(make_config, small_disk):
    config = make_config(PANIC_EDGE_DATA_DIR=str(small_disk / "data"), PANIC_EDGE_LOCAL_MODELS_LATENCY="0",
                         PANIC_EDGE_ARCHIVE_MAX_BYTES="", PANIC_EDGE_ARCHIVE_MIN_FREE_BYTES="1MB",
                         PANIC_EDGE_ARCHIVE_KEEP_NEWEST="2", PANIC_EDGE_ARCHIVE_CHECK_INTERVAL="3600")
    running = await start_daemon(config)
    engine = running.engine
    engine.storage_retry_max = 0.5
    try:
        run_id = await engine.start("demo", "a run that fills the disk")
        await until(lambda: on_disk(config.archive_dir) >= 3 * MB, 90)
        filler = small_disk / "filler"
        await asyncio.to_thread(fill, filler)  # the disk is full now: nothing more fits
        filled = filler.stat().st_size
        await until(lambda: engine.storage_problem is not None)
        stalled = engine.states["demo"].run.sequence
        # nobody does anything: retention (poked by the engine's retries) deletes old outputs, the
        # database takes writes again, the loop goes on
        await until(lambda: engine.storage_problem is None and engine.states["demo"].run.sequence >= stalled + 4, 60)
        assert filler.stat().st_size == filled  # only the archive is pruned
        filler.unlink()  # the loop at full speed would fill the disk again before the stop is recorded
        await engine.stop("demo")
    finally:
        await running.stop()
    from panic_edge.store import Store

    async with Store.open(config.database_path) as store:
        steps = await store.run_invocations(run_id)
        kept = [i for i in await outputs(store, run_id) if "pruned" not in i.output.flags]
        pruned = [i for i in await outputs(store, run_id) if "pruned" in i.output.flags]
    assert [i.sequence for i in steps] == list(range(len(steps)))  # no step lost
    assert all(i.state.value == "completed" for i in steps[:-1])
    assert pruned, "retention never recorded what it pruned"
    assert all(not (config.archive_dir / i.output.file).exists() for i in pruned)
    assert all((config.archive_dir / i.output.file).exists() for i in kept[-2:])  # the newest stay


@pytest.mark.allow_errors
async def test_while_the_database_refuses_writes_retention_still_frees_the_disk_and_records_it_later(make_config):
    config = make_config(PANIC_EDGE_LOCAL_MODELS_LATENCY="0", PANIC_EDGE_ARCHIVE_CHECK_INTERVAL="3600")
    running = await start_daemon(config)
    engine = running.engine
    try:
        old, new = await make_history(engine)
        store = engine.store
        before = on_disk(config.archive_dir)
        capacity = before  # a disk exactly full of the archive: free is what retention deletes
        retention = Retention(store, config.archive_dir, Limits(None, before // 2, keep_newest=2),
                              free=lambda _: capacity - on_disk(config.archive_dir))
        await store.write(lambda conn: conn.set_authorizer(refuse_writes))  # as SQLite does on a full disk

        done = await retention.check()
        assert done.pruned and not done.recorded
        assert on_disk(config.archive_dir) <= before - before // 2  # the room was made all the same
        files = await outputs(store, old) + await outputs(store, new)
        gone = [i for i in files if not (config.archive_dir / i.output.file).exists()]
        assert len(gone) == done.pruned and not any("pruned" in i.output.flags for i in gone)  # not marked yet

        # deleted but not marked: the media server answers with the calm placeholder ...
        url = f"{engine.media_base}/media/{gone[0].output.file}"
        async with httpx.AsyncClient() as client:
            answer = await client.get(url)
            assert answer.status_code == 410 and answer.headers["content-type"] == "image/png"
            media = MediaCache(media_base=lambda: engine.media_base)
            assert media.get(url, "image") is None and await media.fetch_wanted(client)  # as a screen asks
            assert media.get(url, "image").gone
        # ... a screen draws the same pruned card as for a marked row ...
        shown = Shown(id=gone[0].id, run_id=gone[0].run_id, network="demo", sequence=gone[0].sequence,
                      model="local-painter", model_name="Pixel Painter (local)", state="completed",
                      input_type="text", output_type="image", input="a prompt", output=url,
                      created_at=NOW, started_at=NOW, finished_at=NOW)
        assert drawn(shown, media) == drawn(replace(shown, flags=("pruned",)), MediaCache())
        # ... and replay never picks it
        candidates = await store.replay_candidates("local-painter")
        assert {i.id for i in gone} & {i.id for i in candidates}
        assert not {i.id for i in gone} & {i.id for i in engine._still_archived(candidates)}

        again = await retention.check()  # still refused: nothing is counted or deleted twice
        assert again.pruned == 0 and again.archive_bytes == on_disk(config.archive_dir)

        await store.write(lambda conn: conn.set_authorizer(None))
        recorded = await retention.check()
        assert recorded.recorded and recorded.pruned == 0
        files = await outputs(store, old) + await outputs(store, new)
        assert {i.id for i in files if "pruned" in i.output.flags} == {i.id for i in gone}
        assert (await retention.usage()).bytes == on_disk(config.archive_dir)
    finally:
        await running.stop()


def refuse_writes(action: int, *_: object) -> int:
    """An authorizer for the writer's connection: every change is refused (a sqlite3.Error)."""
    return sqlite3.SQLITE_DENY if action in (sqlite3.SQLITE_INSERT, sqlite3.SQLITE_UPDATE) else sqlite3.SQLITE_OK


def drawn(shown: Shown, media: MediaCache) -> bytes:
    pygame.init()
    view = View(network="demo", network_name="Demo", rows=1, cols=1, cells=(shown,), now=NOW,
                appliance_online=True, broker_online=True, running=True)
    surface = pygame.Surface((320, 240))
    render(surface, view, media)
    return pygame.image.tobytes(surface, "RGB")


@pytest.mark.allow_errors
async def test_a_daemon_stopped_while_the_disk_refuses_writes_stops_cleanly_and_takes_the_run_up_again(make_config):
    # systemd stops the service while the card is full: the runs' end cannot be recorded, the
    # daemon must still stop (not die with a traceback), and the next start takes the run up
    config = make_config(PANIC_EDGE_LOCAL_MODELS_LATENCY="0.05")
    running = await start_daemon(config)
    run_id = await running.engine.start("demo", "a run the disk interrupts")
    await until(lambda: running.engine.states["demo"].run.sequence >= 3)
    await running.engine.store.write(lambda conn: conn.set_authorizer(refuse_writes))
    await running.stop()  # raises if the daemon's run ended with an exception
    again = await start_daemon(config)
    try:
        await until(lambda: again.engine.states["demo"].run is not None
                    and again.engine.states["demo"].run.run_id == run_id)  # resumed after the restart
    finally:
        await again.stop()
