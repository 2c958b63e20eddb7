"""Files only the service user may read, and renames that survive a power cut.

The data directory holds the database (every prompt a visitor typed), its backups, the archive
of outputs and the key that signs admin logins. Everything there is made 0600 (files) and 0700
(folders) when it is created, and put right at start for installs made before that (a 0755
folder let any local account read the lot).

An atomic write is temporary file + fsync + rename + fsync of the folder: without the last
step a power cut can lose the new name although the file's bytes reached the disk.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger(__name__)

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700
# what the daemon keeps in its data directory besides the archive and backups folders
_DATA_FILES = ("panic-edge.sqlite3", "panic-edge.sqlite3-wal", "panic-edge.sqlite3-shm",
               "panic-edge.sqlite3-journal", "admin-session-key", "daemon.lock")
_DATA_DIRS = ("archive", "backups")


def fsync_dir(path: Path) -> None:
    """Make the folder's entries (a rename, a new file) durable."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def private_dir(path: Path) -> Path:
    """``path`` as a folder, created 0700 (missing parents too) if it is not there yet; a new
    folder's name is made durable in its parent. An existing folder is left as it is."""
    if path.is_dir():
        return path
    if not path.parent.is_dir():
        private_dir(path.parent)
    try:
        os.mkdir(path, PRIVATE_DIR)
    except FileExistsError:
        return path  # made by another thread just now
    fsync_dir(path.parent)
    return path


def open_private(path: Path, flags: int = os.O_WRONLY | os.O_CREAT | os.O_TRUNC) -> int:
    """``os.open`` with mode 0600, whatever the umask allows for group and others."""
    return os.open(path, flags, PRIVATE_FILE)


def write_private(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically and durably, mode 0600."""
    private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with os.fdopen(open_private(tmp), "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(path.parent)


def create_private(path: Path) -> None:
    """Create ``path`` empty with mode 0600 unless it exists; make an existing one 0600.

    SQLite gives the -wal, -shm and -journal files the mode of their database, so a database
    file made here first keeps all of them private."""
    private_dir(path.parent)
    os.close(open_private(path, os.O_WRONLY | os.O_CREAT))
    _chmod(path, PRIVATE_FILE)


def _chmod(path: Path, mode: int) -> bool:
    """Set ``mode`` if it differs; True if it changed. Symlinks are left alone."""
    try:
        st = path.lstat()
    except FileNotFoundError:
        return False
    if stat.S_ISLNK(st.st_mode) or stat.S_IMODE(st.st_mode) == mode:
        return False
    try:
        os.chmod(path, mode)
    except OSError as err:  # not ours (a folder the operator owns): say so, carry on
        log.warning("could not make %s private (chmod %o): %s", path, mode, err.strerror or err)
        return False
    return True


def _lock_tree(folder: Path) -> int:
    """Make ``folder`` and everything under it private. A folder that is already 0700 was
    made (or fixed) by this code, so its contents are skipped: a start stays fast with a large
    archive. The folder itself is changed last, after its contents."""
    try:
        st = folder.lstat()
    except FileNotFoundError:
        return 0
    if not stat.S_ISDIR(st.st_mode) or stat.S_IMODE(st.st_mode) == PRIVATE_DIR:
        return 0
    changed = 0
    for root, dirs, files in os.walk(folder, topdown=False):
        here = Path(root)
        changed += sum(_chmod(here / name, PRIVATE_FILE) for name in files)
        changed += sum(_chmod(here / name, PRIVATE_DIR) for name in dirs)
    return changed + _chmod(folder, PRIVATE_DIR)


def lock_down(data_dir: Path) -> int:
    """At start: the data directory, the database and its companions, the session key, the
    archive and the backups readable by the service user only. Returns how many modes changed."""
    private_dir(data_dir)
    changed = int(_chmod(data_dir, PRIVATE_DIR))
    changed += sum(_chmod(data_dir / name, PRIVATE_FILE) for name in _DATA_FILES)
    changed += sum(_lock_tree(data_dir / name) for name in _DATA_DIRS)
    if changed:
        log.info("made %d files and folders in %s readable by this user only", changed, data_dir)
    return changed
