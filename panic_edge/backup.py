"""Backups of the SQLite database: a consistent snapshot taken while the daemon runs, checks on
a file offered for restore, and the restore itself.

A snapshot uses sqlite3's online backup API, page by page under SQLite's own locks, so it is
safe while the daemon writes: one transaction's view. A file offered for restore is untrusted
(backup_check): its rows, not its pages, are copied into a fresh database built by the
migrations, and that clean copy then replaces the live database's pages in place (connections
that stay open see the restored data; nothing is renamed under them). Backups are 0600 files
in a 0700 folder. The archive of output files is not part of the database backup.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from panic_edge.backup_check import copy_into_fresh, open_untrusted, schema_message, schema_problems
from panic_edge.errors import BackupError
from panic_edge.private_files import create_private, fsync_dir, private_dir
from panic_edge.store.migrations import MIGRATIONS, migrate, schema_version

TABLES = ("runs", "invocations")


@dataclass(frozen=True)
class BackupInfo:
    """What a checked backup holds."""

    schema_version: int
    runs: int
    invocations: int
    bytes: int


def snapshot(database: Path, target: Path) -> BackupInfo:
    """Write a consistent copy of ``database`` to ``target`` (atomically: a temporary file in the
    same folder, renamed at the end). Safe while the daemon is writing."""
    if not database.is_file():
        raise BackupError(f"there is no database at {database} to back up")
    private_dir(target.parent)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        src = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=10)
        dst = sqlite3.connect(tmp)
        try:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
        finally:
            dst.close()
            src.close()
        os.replace(tmp, target)
        fsync_dir(target.parent)
    except sqlite3.Error as err:
        raise BackupError(f"could not back up {database}: {err}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return validate(target)


def validate(path: Path) -> BackupInfo:
    """Check that ``path`` is a panic-edge database this version can use, with exactly the
    schema the migrations make. Raises BackupError saying what is wrong; changes nothing. (A
    restore also checks every row: backup_check.copy_into_fresh.)"""
    if not path.is_file():
        raise BackupError(f"{path} does not exist")
    with open(path, "rb") as fh:
        if fh.read(16) != b"SQLite format 3\x00":
            raise BackupError("the file is not an SQLite database")
    try:
        conn = open_untrusted(path)
    except sqlite3.Error as err:
        raise BackupError(f"cannot open the file as SQLite: {err}") from None
    try:
        problems = [str(row[0]) for row in conn.execute("PRAGMA integrity_check(10)")]
        if problems != ["ok"]:
            raise BackupError("the database is damaged: " + "; ".join(problems))
        version = schema_version(conn)
        if version < 1:
            raise BackupError("the file is an SQLite database but not a panic-edge one (no schema)")
        if version > len(MIGRATIONS):
            raise BackupError(f"the backup is at schema {version}, newer than this panic-edge "
                              f"({len(MIGRATIONS)}); upgrade panic-edge first")
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        missing = [t for t in TABLES if t not in tables]
        if missing:
            raise BackupError(f"the file is not a panic-edge database: no {', '.join(missing)} table")
        problems = schema_problems(conn, version)
        if problems:
            raise BackupError(schema_message(version, problems))
        runs = int(conn.execute("SELECT count(*) FROM runs").fetchone()[0])
        invocations = int(conn.execute("SELECT count(*) FROM invocations").fetchone()[0])
    except sqlite3.DatabaseError as err:
        raise BackupError(f"the file is not a usable SQLite database: {err}") from None
    finally:
        conn.close()
    return BackupInfo(version, runs, invocations, path.stat().st_size)


SPARE_BYTES = 16 * 1024 * 1024


def _check_space(backup: Path, database: Path) -> None:
    """A restore writes a clean copy, keeps the old database and copies into the live file:
    refuse at once, with the figures, when the disk cannot hold that."""
    live = database.stat().st_size if database.is_file() else 0
    need = 2 * backup.stat().st_size + live + SPARE_BYTES
    free = shutil.disk_usage(database.parent).free
    if free < need:
        raise BackupError(f"not enough free disk space to restore: it needs about {need // 2**20} MB "
                          f"next to {database.name}, and {free // 2**20} MB are free; delete old backups "
                          f"or outputs first")


def restore(backup: Path, database: Path, keep_dir: Path | None = None) -> tuple[BackupInfo, Path | None]:
    """Replace the contents of ``database`` with the rows of ``backup``, after checking it.

    The backup is validated, then its rows are copied into a fresh database beside the live
    one and checked (backup_check); nothing is touched if any of that fails. Then, when
    ``keep_dir`` is given, the current database is snapshotted there (returned, so an unwanted
    restore can be undone), and the clean copy's pages replace the live database's. The caller
    makes sure no run is in progress.
    """
    info = validate(backup)
    private_dir(database.parent)
    _check_space(backup, database)
    fd, name = tempfile.mkstemp(prefix=".restore-", suffix=".sqlite3", dir=database.parent)
    os.close(fd)
    clean = Path(name)
    try:
        clean.unlink()  # copy_into_fresh makes it, 0600
        copy_into_fresh(backup, clean)
        kept = None
        if keep_dir is not None and database.is_file():
            kept = keep_dir / f"before-restore-{time.strftime('%Y%m%d-%H%M%S')}.sqlite3"
            snapshot(database, kept)
        _replace_pages(clean, database)
    finally:
        for leftover in (clean, clean.with_name(clean.name + "-journal")):
            leftover.unlink(missing_ok=True)
    return info, kept


def _replace_pages(clean: Path, database: Path) -> None:
    create_private(database)
    try:
        src = sqlite3.connect(f"file:{clean}?mode=ro", uri=True)
        dst = sqlite3.connect(database, timeout=10)
        try:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=WAL")
            migrate(dst)
        finally:
            dst.close()
            src.close()
    except sqlite3.Error as err:
        raise BackupError(f"could not restore into {database}: {err}") from None


PREFIX = "panic-edge-"


def rotate(database: Path, folder: Path, keep: int, now: float | None = None) -> tuple[Path, list[Path]]:
    """Take a snapshot into ``folder`` named by time, then delete the oldest beyond ``keep``.

    Returns (the new backup, the ones deleted). Only files this function names are rotated;
    anything else in the folder (``before-restore-*``, an operator's copies) is left alone.
    """
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now if now is not None else time.time()))
    target = folder / f"{PREFIX}{stamp}.sqlite3"
    snapshot(database, target)
    ours = sorted(folder.glob(f"{PREFIX}*.sqlite3"))
    old = ours[:-keep] if keep > 0 else []
    for path in old:
        path.unlink(missing_ok=True)
    return target, old
