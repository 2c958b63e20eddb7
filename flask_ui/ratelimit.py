"""Failed-attempt rate limiting for logins and API tokens: per client address, a sliding window.

Only failures count, so a person who types the password right is never slowed down; once a
client has failed ``limit`` times in ``window`` seconds, every attempt (right or wrong) is refused
until the oldest failure ages out. The clock is injected.
"""

from __future__ import annotations

import threading
from collections import defaultdict, deque
from collections.abc import Callable


class FailureLimiter:
    def __init__(self, limit: int, window: float, clock: Callable[[], float]) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self._failures: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _prune(self, key: str, now: float) -> deque[float]:
        failures = self._failures[key]
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        if not failures:
            del self._failures[key]  # keep the table small
            return deque()
        return failures

    def retry_after(self, key: str) -> float:
        """Seconds ``key`` must wait before trying again; 0 if it may try now."""
        with self._lock:
            now = self.clock()
            failures = self._prune(key, now)
            if len(failures) < self.limit:
                return 0.0
            return failures[0] + self.window - now

    def failed(self, key: str) -> None:
        with self._lock:
            self._failures[key].append(self.clock())
