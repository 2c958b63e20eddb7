"""The appliance's sense of time: the wall clock, and timers on it.

Everything that waits on the wall clock (the paced wait between steps, the opening hours, the
budget's midnight, retention's checks) asks a ``Clock``. The daemon runs on ``SystemClock``; the
soak test runs a whole gallery day in a minute on ``FastClock``, where every simulated second
takes ``1 / speed`` real seconds, so the same code is exercised end to end (the 24-hour benchmark,
bench/day.py, brings a clock of its own whose closed hours pass faster than its open ones).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch, as the installation's day sees them."""

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this clock's time."""

    def call_at(self, when: float, callback: Callable[[], None]) -> asyncio.TimerHandle:
        """Run ``callback`` on the running loop at this clock's ``when``."""


class SystemClock:
    def now(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    def call_at(self, when: float, callback: Callable[[], None]) -> asyncio.TimerHandle:
        return asyncio.get_running_loop().call_later(max(0.0, when - self.now()), callback)


class FastClock:
    """Time that runs ``speed`` times faster than the real clock, from ``start`` (default: now)."""

    def __init__(self, speed: float, start: float | None = None) -> None:
        if speed <= 0:
            raise ValueError("a clock's speed must be positive")
        self.speed = speed
        self._start = time.time() if start is None else start
        self._real = time.monotonic()

    def now(self) -> float:
        return self._start + (time.monotonic() - self._real) * self.speed

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self.speed)

    def call_at(self, when: float, callback: Callable[[], None]) -> asyncio.TimerHandle:
        return asyncio.get_running_loop().call_later(max(0.0, when - self.now()) / self.speed, callback)


SYSTEM = SystemClock()
