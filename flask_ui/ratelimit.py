"""Backoff for wrong guesses at the admin password and the API token (docs/admin.md, "Login backoff").

- Only failures count, and only against the client that made them (its address, an IPv6 /64;
  behind a proxy see ``admin.trusted_proxies``). A client's first ``free`` failures cost
  nothing; then it waits before each further attempt, 2 s doubling up to 15 min. Its record is
  forgotten an hour after its last failure, or at once when it gets in.
- Account-wide cap: after ``global_limit`` failures within the hour, from anyone, clients that
  have failed before wait until the hour frees up, while a client with a clean record is always
  checked. So the right password from a device that has not been guessing always gets in,
  whatever others do, and an attacker holding many addresses gets one guess per address.
- Atomic: a slow check (the password's scrypt) is charged as a failure *before* it runs and
  refunded when it was right (``attempt`` / ``succeeded``); a fast one (the token's constant-time
  compare) runs under the lock (``verify``). Either way parallel guesses cannot slip past the count.
- At most ``max_clients`` records: when full, an unknown client counts as one that has failed
  (only an attack from that many addresses gets there).

The clock is injected.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Record:
    failures: int
    last: float


class Backoff:
    def __init__(self, free: int, clock: Callable[[], float], *, first_wait: float = 2.0,
                 max_wait: float = 900.0, forget: float = 3600.0, global_limit: int | None = None,
                 max_clients: int = 10_000) -> None:
        self.free = free
        self.clock = clock
        self.first_wait = first_wait
        self.max_wait = max_wait
        self.forget = forget
        self.global_limit = global_limit if global_limit is not None else 20 * free
        self.max_clients = max_clients
        self._clients: OrderedDict[str, _Record] = OrderedDict()  # oldest last failure first
        self._recent: deque[float] = deque()  # every failure within ``forget``, oldest first
        self._lock = threading.Lock()

    # --- under the lock -------------------------------------------------------------------------

    def _prune(self, now: float) -> None:
        horizon = now - self.forget
        while self._clients and next(iter(self._clients.values())).last <= horizon:
            self._clients.popitem(last=False)
        while self._recent and self._recent[0] <= horizon:
            self._recent.popleft()

    def _wait(self, client: str, now: float) -> float:
        self._prune(now)
        record = self._clients.get(client)
        waits = [0.0]
        if record is not None and record.failures >= self.free:
            backoff = min(self.max_wait, self.first_wait * 2 ** min(record.failures - self.free, 30))
            waits.append(record.last + backoff - now)
        has_failed = record is not None or len(self._clients) >= self.max_clients
        if has_failed and len(self._recent) >= self.global_limit:
            waits.append(self._recent[0] + self.forget - now)
        return max(waits)

    def _charge(self, client: str, now: float) -> None:
        record = self._clients.pop(client, None)
        if record is None:
            record = _Record(0, now)
        record.failures += 1
        record.last = now
        if len(self._clients) < self.max_clients:
            self._clients[client] = record  # to the end: the newest failure
        self._recent.append(now)

    # --- public ---------------------------------------------------------------------------------

    def retry_after(self, client: str) -> float:
        """Seconds ``client`` must wait before an attempt is checked; 0 if it may try now."""
        with self._lock:
            return self._wait(client, self.clock())

    def attempt(self, client: str) -> float:
        """For a slow check: 0 when ``client`` may try now (a failure is charged; call
        ``succeeded`` if the guess was right), else the seconds it must wait."""
        with self._lock:
            now = self.clock()
            wait = self._wait(client, now)
            if wait <= 0:
                self._charge(client, now)
            return wait

    def succeeded(self, client: str) -> None:
        """The attempt was right: refund its charge and forget the client's failures."""
        with self._lock:
            self._clients.pop(client, None)
            if self._recent:
                self._recent.pop()

    def verify(self, client: str, check: Callable[[], bool], *, unguessable: bool = False) -> tuple[bool, float]:
        """For a fast check, run under the lock: (passed, 0), or (False, seconds to wait) when
        ``client`` may not try now. A failed check is charged.

        ``unguessable`` (a secret too long to guess, such as a 32-byte token): the check runs even
        while the client waits, and the right secret always passes; only wrong ones wait. So a
        valid token shared an address (a proxy, a NAT) with someone guessing is never refused."""
        with self._lock:
            now = self.clock()
            wait = self._wait(client, now)
            if wait > 0 and not unguessable:
                return False, wait
            if check():
                self._clients.pop(client, None)
                return True, 0.0
            if wait > 0:  # already waiting: refused again, but not charged again (else a flood of
                return False, wait  # wrong tokens would grow the record of failures without bound)
            self._charge(client, now)
            return False, 0.0


class SlidingWindow:
    """At most ``limit`` events per key in any ``window`` seconds (the visitors' prompts). ``take``
    checks and counts in one step, under a lock, so parallel requests cannot slip past the count;
    at most ``max_keys`` keys are kept (the oldest go first)."""

    def __init__(self, limit: int, window: float, clock: Callable[[], float], max_keys: int = 10_000) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self.max_keys = max_keys
        self._events: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """Count one event for ``key`` and return 0, or return the seconds to wait (counting nothing)."""
        with self._lock:
            now = self.clock()
            events = self._events.pop(key, None) or deque()
            while events and events[0] <= now - self.window:
                events.popleft()
            wait = events[0] + self.window - now if len(events) >= self.limit else 0.0
            if not wait:
                events.append(now)
            if events:
                self._events[key] = events
                while len(self._events) > self.max_keys:
                    self._events.popitem(last=False)
            return wait

    def give_back(self, key: str) -> None:
        """Undo the last ``take`` of ``key`` (another limit refused the same request)."""
        with self._lock:
            events = self._events.get(key)
            if events:
                events.pop()
