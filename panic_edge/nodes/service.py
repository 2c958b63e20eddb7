"""What every node process does as a service: quiet HTTP logs, systemd readiness and watchdog.

Display nodes ping the watchdog from their frame loop (a frozen screen stops pinging and systemd
restarts it); speakers and Vestaboard bridges from a task on their event loop. Off systemd every
call is a no-op (``daemon.systemd.Notifier``).
"""

from __future__ import annotations

import asyncio
import logging

from panic_edge.daemon.systemd import Notifier

NOISY = ("httpx", "httpcore")


def quiet_http_logs() -> None:
    """One line per shown invocation, not one per HTTP request: the HTTP client logs only problems."""
    for name in NOISY:
        logging.getLogger(name).setLevel(logging.WARNING)


class Watchdog:
    """READY=1 once, then WATCHDOG=1 at half of systemd's WatchdogSec, from whoever calls ``tick``."""

    def __init__(self, notifier: Notifier | None = None) -> None:
        self.notifier = notifier or Notifier()
        self.interval = self.notifier.watchdog_interval
        self._ready = False
        self._last = float("-inf")

    def tick(self, now: float, status: str = "showing") -> None:
        if not self._ready:
            self.notifier.ready(status)
            self._ready = True
        if self.interval is not None and now - self._last >= self.interval:
            self.notifier.watchdog()
            self._last = now

    async def run(self, status: str) -> None:
        """For nodes without a frame loop: ping while the event loop turns."""
        loop = asyncio.get_running_loop()
        while True:
            self.tick(loop.time(), status)
            await asyncio.sleep(self.interval or 3600)
