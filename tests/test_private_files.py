"""The data directory is the service user's alone: database and its WAL/SHM, backups, archive,
session key (0600 files, 0700 folders), made so and put right at start for an older install;
an archived file's name is durable (the folder is fsynced after the rename)."""

from __future__ import annotations

import asyncio
import os
import shutil
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from panic_edge.private_files import lock_down
from tests.admin_fixtures import Browser
from tests.conftest import start_daemon


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def everything(data_dir: Path) -> dict[str, int]:
    found = {".": mode(data_dir)}
    for root, dirs, files in os.walk(data_dir):
        for name in dirs + files:
            path = Path(root) / name
            found[str(path.relative_to(data_dir))] = mode(path)
    return found


def assert_private(data_dir: Path) -> None:
    modes = everything(data_dir)
    lax = {name: oct(m) for name, m in modes.items()
           if m != (0o700 if (data_dir / name).is_dir() else 0o600)}
    assert not lax, f"readable by others: {lax}"


async def wait_for_outputs(running, count: int) -> str:
    run_id = await running.engine.start("demo", "private matters")
    async with asyncio.timeout(10):
        while len([i for i in await running.engine.store.run_invocations(run_id) if i.output]) < count:
            await asyncio.sleep(0.02)
    return run_id


async def test_a_new_install_is_private_from_the_start(make_config):
    old = os.umask(0o022)  # the usual umask: what is private is made so on purpose
    try:
        config = make_config(PANIC_EDGE_DATA_DIR=str(Path(make_config().data_dir).parent / "fresh" / "data"))
        running = await start_daemon(config)
        try:
            await wait_for_outputs(running, 3)
            await asyncio.to_thread(Browser(running.daemon.http.app.test_client()).get, "/login")
            from panic_edge.backup import rotate
            await asyncio.to_thread(rotate, config.database_path, config.backups_dir, 2)
            assert (config.data_dir / "panic-edge.sqlite3-wal").exists()
            assert any(config.archive_dir.rglob("*.png"))
            assert (config.data_dir / "admin-session-key").exists()
            assert_private(config.data_dir)
        finally:
            await running.stop()
    finally:
        os.umask(old)


async def test_an_older_install_is_made_private_at_start(make_config):
    config = make_config()
    first = await start_daemon(config)
    await wait_for_outputs(first, 2)
    await first.stop()
    from panic_edge.backup import rotate
    rotate(config.database_path, config.backups_dir, 2)
    for path in [config.data_dir, *config.data_dir.rglob("*")]:  # as an earlier version left them
        path.chmod(0o755 if path.is_dir() else 0o644)
    assert mode(config.database_path) == 0o644
    running = await start_daemon(config)
    try:
        assert_private(config.data_dir)
    finally:
        await running.stop()
    assert lock_down(config.data_dir) == 0  # nothing left to do: a second start walks nothing


def test_lock_down_leaves_symlinks_and_other_files_alone(tmp_path: Path):
    data = tmp_path / "data"
    (data / "archive" / "demo").mkdir(parents=True)
    (data / "archive" / "demo" / "a.png").write_bytes(b"x")
    outside = tmp_path / "outside.txt"
    outside.write_text("mine")
    outside.chmod(0o644)
    (data / "archive" / "link").symlink_to(outside)
    (data / "notes.txt").write_text("the operator's")
    (data / "notes.txt").chmod(0o644)
    lock_down(data)
    assert mode(outside) == 0o644 and mode(data / "notes.txt") == 0o644
    assert mode(data / "archive" / "demo" / "a.png") == 0o600 and mode(data / "archive") == 0o700


STRACE = shutil.which("strace")


@pytest.mark.skipif(STRACE is None, reason="strace is not installed (scripts/setup installs it)")
def test_an_archived_file_is_fsynced_renamed_then_its_folder_fsynced(tmp_path: Path):
    assert STRACE is not None
    script = textwrap.dedent(f"""
        from pathlib import Path
        from panic_edge.archive import Archive
        from panic_edge.core.media import MediaType
        Archive(Path({str(tmp_path / 'archive')!r})).save("demo", "r1.0", b"RIFF\\x24\\0\\0\\0WAVE" + bytes(64),
                                                           MediaType.AUDIO)
    """)
    traced = subprocess.run([STRACE, "-f", "-y", "-e", "trace=fsync,rename,renameat,renameat2", sys.executable,
                             "-c", script], capture_output=True, text=True, timeout=60, check=False)
    if traced.returncode != 0 and "ptrace" in traced.stderr:
        pytest.skip("ptrace is not allowed here")
    assert traced.returncode == 0, traced.stderr
    calls = [line for line in traced.stderr.splitlines() if line.startswith(("fsync", "rename"))
             and "archive" in line]
    folder = str(tmp_path / "archive" / "demo")
    assert [c.split("(")[0] for c in calls][-3:] == ["fsync", "rename", "fsync"], calls
    assert calls[-3].startswith("fsync(") and "r1.0.wav.part>" in calls[-3]
    assert f"<{folder}>" in calls[-1]  # the folder itself, after the rename
