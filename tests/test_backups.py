"""Rotating online backups, and `panic-edge backup` / `restore` from the command line."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from panic_edge.backup import rotate
from panic_edge.core.invocation import Run
from panic_edge.daemon.lock import DataDirLock
from panic_edge.errors import ConfigError
from panic_edge.store import Store
from tests.conftest import start_daemon

CLI = [sys.executable, "-m", "panic_edge"]


async def a_database(path: Path, runs: int) -> None:
    async with Store.open(path) as store:
        for i in range(runs):
            await store.begin_run(Run(f"r{i}", "demo", "p", float(i)))


async def test_rotation_keeps_the_newest_and_leaves_other_files_alone(tmp_path: Path):
    db = tmp_path / "db.sqlite3"
    await a_database(db, 2)
    folder = tmp_path / "backups"
    folder.mkdir()
    (folder / "before-restore-1.sqlite3").write_bytes(b"mine")
    made = [rotate(db, folder, keep=3, now=1_700_000_000 + i * 3600)[0] for i in range(5)]
    assert sorted(folder.glob("panic-edge-*.sqlite3")) == made[-3:]
    assert (folder / "before-restore-1.sqlite3").read_bytes() == b"mine"
    assert sqlite3.connect(made[-1]).execute("SELECT count(*) FROM runs").fetchone()[0] == 2


def test_one_daemon_per_data_dir(tmp_path: Path):
    with DataDirLock(tmp_path), pytest.raises(ConfigError, match="another panic-edge daemon is using"):
        DataDirLock(tmp_path).acquire()
    DataDirLock(tmp_path).acquire().release()  # free again once the first is gone


async def test_backup_while_running_then_restore_when_stopped(make_config, tmp_path: Path):
    config = make_config()
    env = {**os.environ, "PANIC_EDGE_DATA_DIR": str(config.data_dir)}
    running = await start_daemon(config)
    try:
        run_id = await running.engine.start("demo", "keep me")
        async with asyncio.timeout(10):
            while len(await running.engine.store.run_invocations(run_id)) < 3:
                await asyncio.sleep(0.02)
        taken = await asyncio.to_thread(subprocess.run, [*CLI, "backup"], env=env, capture_output=True,
                                        text=True, timeout=30)
        assert taken.returncode == 0, taken.stderr
        backup = Path(taken.stdout.split("backed up to ")[1].split()[0])
        refused = await asyncio.to_thread(subprocess.run, [*CLI, "restore", str(backup)], env=env,
                                          capture_output=True, text=True, timeout=30)
        assert refused.returncode == 2 and "another panic-edge daemon is using" in refused.stderr
    finally:
        await running.stop()
    async with Store.open(config.database_path) as store:  # something happens after the backup
        await store.begin_run(Run("later", "demo", "after the backup", 1.0))
    restored = await asyncio.to_thread(subprocess.run, [*CLI, "restore", str(backup)], env=env,
                                       capture_output=True, text=True, timeout=30, check=False)
    assert restored.returncode == 0, restored.stderr
    assert "restored 1 runs" in restored.stdout and "kept at" in restored.stdout
    conn = sqlite3.connect(config.database_path)
    assert [r[0] for r in conn.execute("SELECT id FROM runs")] == [run_id]
    bad = tmp_path / "bad.sqlite3"
    bad.write_bytes(b"not a database at all")
    result = await asyncio.to_thread(subprocess.run, [*CLI, "restore", str(bad)], env=env, capture_output=True,
                                     text=True, timeout=30, check=False)
    assert result.returncode == 2 and "not an SQLite database" in result.stderr
