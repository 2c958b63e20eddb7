"""One daemon per data directory: an advisory lock held while the daemon runs.

It keeps two daemons from sharing one database, and lets `panic-edge restore` refuse to swap
the database under a running daemon.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from panic_edge.errors import ConfigError
from panic_edge.private_files import private_dir


class DataDirLock:
    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / "daemon.lock"
        self._fd: int | None = None

    def acquire(self) -> DataDirLock:
        private_dir(self.path.parent)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ConfigError(f"another panic-edge daemon is using {self.path.parent}; stop it first "
                              f"(systemctl stop panic-edge) or give this one another data_dir") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> DataDirLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
