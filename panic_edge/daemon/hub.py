"""A broadcast hub: events published on the loop, read by the admin page's server-sent-event
streams on waitress threads. In-process, so the page needs no second broker client.

Each subscriber has a bounded queue; a subscriber that falls behind loses its oldest events
(the page reloads the run from /api when it sees a gap), never blocks the publisher.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from panic_edge.errors import CommandError


@dataclass(frozen=True)
class HubEvent:
    kind: str  # "invocation", "state", "status"
    data: dict[str, Any]


_CLOSED = HubEvent("closed", {})


class Hub:
    def __init__(self, max_subscribers: int = 8, backlog: int = 256) -> None:
        self.max_subscribers = max_subscribers
        self.backlog = backlog
        self._subscribers: set[queue.Queue[HubEvent]] = set()
        self._lock = threading.Lock()
        self._closed = False

    def publish(self, kind: str, data: dict[str, Any]) -> None:
        """Hand ``data`` to every subscriber. Never blocks; safe from any thread."""
        event = HubEvent(kind, data)
        with self._lock:
            subscribers = list(self._subscribers)
        for q in subscribers:
            while True:
                try:
                    q.put_nowait(event)
                    break
                except queue.Full:
                    try:
                        q.get_nowait()  # drop the oldest
                    except queue.Empty:
                        pass

    @contextmanager
    def subscribe(self) -> Iterator[Subscription]:
        """A subscription for the duration of the ``with``. Raises CommandError when full."""
        q: queue.Queue[HubEvent] = queue.Queue(self.backlog)
        with self._lock:
            if self._closed:
                raise CommandError("the daemon is shutting down")
            if len(self._subscribers) >= self.max_subscribers:
                raise CommandError(f"too many live pages open (limit {self.max_subscribers}); "
                                   "close one or reload later")
            self._subscribers.add(q)
        try:
            yield Subscription(q)
        finally:
            with self._lock:
                self._subscribers.discard(q)

    @property
    def subscribers(self) -> int:
        with self._lock:
            return len(self._subscribers)

    def close(self) -> None:
        """End every subscription (the streams return), and refuse new ones."""
        with self._lock:
            self._closed = True
            subscribers = list(self._subscribers)
        for q in subscribers:
            try:
                q.put_nowait(_CLOSED)
            except queue.Full:
                q.get_nowait()
                q.put_nowait(_CLOSED)


class Subscription:
    def __init__(self, q: queue.Queue[HubEvent]) -> None:
        self._q = q

    def next(self, timeout: float) -> HubEvent | None:
        """The next event; None after ``timeout`` seconds with none. Raises EOFError once closed."""
        try:
            event = self._q.get(timeout=timeout)
        except queue.Empty:
            return None
        if event is _CLOSED:
            raise EOFError
        return event
