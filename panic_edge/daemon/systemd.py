"""systemd integration: Type=notify readiness, watchdog pings and STATUS lines.

Uses systemd-python (Linux only, built against libsystemd) when the daemon runs under systemd
(NOTIFY_SOCKET set); elsewhere every call is a no-op, so a Mac mini runs without it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

log = logging.getLogger(__name__)


def _load_notify() -> Callable[[str], bool] | None:
    try:
        # for mypy, the repository's systemd/ folder (unit files) shadows the systemd-python package
        from systemd import daemon  # type: ignore[attr-defined]
    except ImportError:
        return None
    return daemon.notify  # type: ignore[no-any-return]  # systemd-python has no types


class Notifier:
    def __init__(self) -> None:
        self._notify = _load_notify() if os.environ.get("NOTIFY_SOCKET") else None
        if os.environ.get("NOTIFY_SOCKET") and self._notify is None:
            log.warning("running under systemd but systemd-python is not installed: readiness and "
                        "watchdog pings are off (pip install 'panic-edge[systemd]')")

    @property
    def active(self) -> bool:
        return self._notify is not None

    @property
    def watchdog_interval(self) -> float | None:
        """Seconds between pings: half of systemd's WatchdogSec, or None when it is off."""
        usec = os.environ.get("WATCHDOG_USEC")
        if not self.active or not usec or not usec.isdigit():
            return None
        return int(usec) / 1e6 / 2

    def _send(self, message: str) -> None:
        if self._notify is not None:
            self._notify(message)

    def ready(self, status: str) -> None:
        self._send(f"READY=1\nSTATUS={status}")

    def status(self, status: str) -> None:
        self._send(f"STATUS={status}")

    def watchdog(self) -> None:
        self._send("WATCHDOG=1")

    def stopping(self) -> None:
        self._send("STOPPING=1\nSTATUS=stopping")
