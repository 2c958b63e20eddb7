"""panic_edge.backup on real SQLite files: snapshots while writing, validation, restore."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from panic_edge import backup
from panic_edge.errors import BackupError
from panic_edge.store.database import _prepare
from panic_edge.store.migrations import MIGRATIONS


def make_db(path: Path, runs: int = 3) -> Path:
    _prepare(path)
    conn = sqlite3.connect(path)
    with conn:  # commits
        conn.executemany("INSERT INTO runs (id, network, prompt, started_at) VALUES (?, 'demo', ?, 1.0)",
                         [(f"r{i}", f"prompt {i}") for i in range(runs)])
    conn.close()  # now, not at garbage collection, when closing checkpoints the WAL into the file
    return path


def test_a_snapshot_is_a_valid_copy_in_one_self_contained_file(tmp_path: Path):
    db = make_db(tmp_path / "live.sqlite3")
    info = backup.snapshot(db, tmp_path / "out" / "snap.sqlite3")
    assert (info.schema_version, info.runs, info.invocations) == (len(MIGRATIONS), 3, 0)
    assert not (tmp_path / "out" / "snap.sqlite3-wal").exists()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["snap.sqlite3"]


def test_a_snapshot_taken_while_another_connection_writes_is_consistent(tmp_path: Path):
    db = make_db(tmp_path / "live.sqlite3", runs=0)
    stop = threading.Event()

    def writer() -> None:
        conn = sqlite3.connect(db, timeout=10)
        conn.execute("PRAGMA synchronous=FULL")
        i = 0
        while not stop.is_set():
            with conn:  # a run and its first invocation, in one transaction
                conn.execute("INSERT INTO runs (id, network, prompt, started_at) VALUES (?, 'd', 'p', 1)", (f"r{i}",))
                conn.execute("INSERT INTO invocations (id, run_id, network, sequence, model, state, input_type, "
                             "output_type, created_at) VALUES (?, ?, 'd', 0, 'm', 'ready', 'text', 'text', 1)",
                             (f"r{i}.0", f"r{i}"))
            i += 1
        conn.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        infos = [backup.snapshot(db, tmp_path / f"snap{n}.sqlite3") for n in range(5)]
    finally:
        stop.set()
        thread.join()
    for info in infos:
        assert info.runs == info.invocations  # never half a transaction
    assert infos[-1].runs > 0


@pytest.mark.parametrize("content, message", [
    (b"hello, not a database", "not an SQLite database"),
    (b"", "not an SQLite database"),
])
def test_validate_refuses_files_that_are_not_databases(tmp_path: Path, content: bytes, message: str):
    path = tmp_path / "x.sqlite3"
    path.write_bytes(content)
    with pytest.raises(BackupError, match=message):
        backup.validate(path)


def test_validate_refuses_an_sqlite_file_that_is_not_panic_edge(tmp_path: Path):
    path = tmp_path / "other.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (x)")
    with pytest.raises(BackupError, match="not a panic-edge one"):
        backup.validate(path)
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 1")
    with pytest.raises(BackupError, match="no runs, invocations table"):
        backup.validate(path)


def test_validate_refuses_a_backup_from_a_newer_panic_edge(tmp_path: Path):
    path = make_db(tmp_path / "new.sqlite3")
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(BackupError, match="newer than this panic-edge"):
        backup.validate(path)


def test_validate_refuses_a_damaged_database(tmp_path: Path):
    path = make_db(tmp_path / "damaged.sqlite3", runs=400)
    backup.snapshot(path, tmp_path / "clean.sqlite3")  # one file, no WAL
    data = bytearray((tmp_path / "clean.sqlite3").read_bytes())
    for offset in range(4096 * 2 + 100, len(data), 4096):  # scribble over every page after the first two
        data[offset:offset + 64] = b"\xa5" * 64
    (tmp_path / "clean.sqlite3").write_bytes(bytes(data))
    with pytest.raises(BackupError):
        backup.validate(tmp_path / "clean.sqlite3")


def test_restore_replaces_the_contents_and_keeps_the_old_database(tmp_path: Path):
    live = make_db(tmp_path / "live.sqlite3", runs=5)
    saved = make_db(tmp_path / "saved.sqlite3", runs=2)
    reader = sqlite3.connect(live)  # a connection that stays open across the restore, as the daemon's does
    assert reader.execute("SELECT count(*) FROM runs").fetchone() == (5,)
    info, kept = backup.restore(saved, live, tmp_path / "backups")
    assert info.runs == 2
    assert reader.execute("SELECT count(*) FROM runs").fetchone() == (2,)
    assert kept is not None and backup.validate(kept).runs == 5
    reader.close()


def test_a_bad_restore_changes_nothing(tmp_path: Path):
    live = make_db(tmp_path / "live.sqlite3", runs=5)
    before = live.read_bytes()
    bad = tmp_path / "bad.sqlite3"
    bad.write_bytes(b"SQLite format 3\x00" + b"\x00" * 200)
    with pytest.raises(BackupError):
        backup.restore(bad, live, tmp_path / "backups")
    assert live.read_bytes() == before and not (tmp_path / "backups").exists()


def test_a_snapshot_of_a_missing_database_says_so(tmp_path: Path):
    with pytest.raises(BackupError, match="no database"):
        backup.snapshot(tmp_path / "none.sqlite3", tmp_path / "out.sqlite3")
