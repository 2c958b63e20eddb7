"""A rolling count of events in the last ``window`` seconds (e.g. invocations per minute).

Pure: the caller gives the time. Bounded: at most ``limit`` events are remembered, so a burst
costs memory once, not forever (the count then reads ``limit``: "at least this many").
"""

from __future__ import annotations

from collections import deque


class RollingCount:
    def __init__(self, window: float = 60.0, limit: int = 100_000) -> None:
        self.window = window
        self._times: deque[float] = deque(maxlen=limit)

    def add(self, now: float) -> None:
        self._times.append(now)

    def count(self, now: float) -> int:
        """Events in ``(now - window, now]``; older ones are forgotten."""
        times = self._times
        while times and times[0] <= now - self.window:
            times.popleft()
        return len(times)
