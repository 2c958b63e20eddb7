"""Is the internet there? A light periodic probe of the model platforms, plus failed calls.

A probe is one TCP connection attempt to each target (no request, no credentials); any one
that connects means online. A call that fails as unreachable triggers a probe at once, so going
offline is noticed within a probe timeout, and coming back within ``offline_probe_interval``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from panic_edge.config import OfflineConfig

log = logging.getLogger("panic_edge.connectivity")


async def reachable(host: str, port: int, timeout: float) -> bool:
    try:
        async with asyncio.timeout(timeout):
            _, writer = await asyncio.open_connection(host, port)
    except (TimeoutError, OSError):
        return False
    writer.close()
    try:
        await writer.wait_closed()
    except OSError:
        pass
    return True


class ConnectivityMonitor:
    def __init__(self, config: OfflineConfig, targets: list[tuple[str, int]],
                 on_change: Callable[[bool], Awaitable[None]]) -> None:
        self.config = config
        self.targets = targets
        self.on_change = on_change
        self.online: bool | None = None  # unknown until the first probe
        self.changed_at: float | None = None
        self._wake = asyncio.Event()

    def report_unreachable(self) -> None:
        """A call just failed to reach its platform: probe now rather than at the next tick."""
        self._wake.set()

    async def probe(self) -> bool:
        targets = self.targets
        if not targets:
            return True
        results = await asyncio.gather(*(reachable(h, p, self.config.probe_timeout) for h, p in targets))
        return any(results)

    async def run(self) -> None:
        while True:
            online = await self.probe()
            if online != self.online:
                first = self.online is None
                self.online, self.changed_at = online, time.time()
                if online and not first:
                    log.warning("the model platforms are reachable again: back online")
                elif not online:
                    log.warning("the model platforms are unreachable: offline (probing every %g s)",
                                self.config.offline_probe_interval)
                await self.on_change(online)
            interval = self.config.probe_interval if online else self.config.offline_probe_interval
            self._wake.clear()
            try:
                async with asyncio.timeout(interval):
                    await self._wake.wait()
            except TimeoutError:
                pass
