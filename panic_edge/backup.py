"""Backups of the SQLite database: a consistent snapshot taken while the daemon runs, checks on
a file offered for restore, and the restore itself.

All three use sqlite3's online backup API, page by page under SQLite's own locks, so they are
safe while the daemon writes: a snapshot is one transaction's view, and a restore replaces the
live database's pages in place (connections that stay open see the restored data; nothing is
renamed under them). The archive of output files is not part of the database backup.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from panic_edge.errors import BackupError
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
    target.parent.mkdir(parents=True, exist_ok=True)
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
    except sqlite3.Error as err:
        raise BackupError(f"could not back up {database}: {err}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return validate(target)


def validate(path: Path) -> BackupInfo:
    """Check that ``path`` is a panic-edge database this version can use. Raises BackupError
    saying what is wrong; changes nothing."""
    if not path.is_file():
        raise BackupError(f"{path} does not exist")
    with open(path, "rb") as fh:
        if fh.read(16) != b"SQLite format 3\x00":
            raise BackupError("the file is not an SQLite database")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as err:
        raise BackupError(f"cannot open the file as SQLite: {err}") from None
    try:
        problems = [row[0] for row in conn.execute("PRAGMA integrity_check(10)")]
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
        runs = int(conn.execute("SELECT count(*) FROM runs").fetchone()[0])
        invocations = int(conn.execute("SELECT count(*) FROM invocations").fetchone()[0])
    except sqlite3.DatabaseError as err:
        raise BackupError(f"the file is not a usable SQLite database: {err}") from None
    finally:
        conn.close()
    return BackupInfo(version, runs, invocations, path.stat().st_size)


def restore(backup: Path, database: Path, keep_dir: Path | None = None) -> tuple[BackupInfo, Path | None]:
    """Replace the contents of ``database`` with ``backup``, after checking it.

    The backup is validated first; nothing is touched if it fails. Then, when ``keep_dir`` is
    given, the current database is snapshotted there (returned, so an unwanted restore can be
    undone); then the backup's pages are copied into the live database and migrated to this
    version's schema. The caller makes sure no run is in progress.
    """
    info = validate(backup)
    kept = None
    if keep_dir is not None and database.is_file():
        kept = keep_dir / f"before-restore-{time.strftime('%Y%m%d-%H%M%S')}.sqlite3"
        snapshot(database, kept)
    database.parent.mkdir(parents=True, exist_ok=True)
    try:
        src = sqlite3.connect(f"file:{backup}?mode=ro", uri=True)
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
    return info, kept


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
