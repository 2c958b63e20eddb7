"""What the broker sends, held until it is handled: bounded, and in two lanes so no flood starves
what matters.

Anyone on an open venue network (or any holder of a node login) can publish as fast as the
network allows. A single queue handled in order made a ``stop-all`` wait behind 100,000 status
messages (49 s), and grew without limit while it waited. So:

- **in order** (a command, an invocation): first in, first out, served before anything else; at
  most ``max_in_order`` wait (beyond that the oldest goes: a flood of these is refused anyway);
- **latest** (a node's status, an installation, anything that says "the state is now ..."): only
  the newest message per topic waits, in the order the topics first arrived; at most
  ``max_latest`` topics (a message on yet another topic beyond that is dropped).

Dropped and replaced messages are counted, and said in the log at most once a minute.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from panic_edge.quiet import Quiet

if TYPE_CHECKING:
    from panic_edge.bus import Message

log = logging.getLogger(__name__)

MAX_IN_ORDER = 10_000
MAX_LATEST = 4_096


def everything_in_order(topic: str) -> bool:
    return True


class Inbox:
    """``put_nowait`` from the event loop's thread (the bus's callbacks), ``await get()`` on it."""

    def __init__(self, in_order: Callable[[str], bool] = everything_in_order, *, name: str = "MQTT",
                 max_in_order: int = MAX_IN_ORDER, max_latest: int = MAX_LATEST,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.in_order = in_order
        self.name = name
        self.max_in_order = max_in_order
        self.max_latest = max_latest
        self.clock = clock
        self._queue: collections.deque[Message] = collections.deque()
        self._latest: dict[str, Message] = {}  # topic -> newest message, oldest topic first
        self._ready = asyncio.Event()
        self.received = 0
        self.dropped = 0  # lost for room
        self.replaced = 0  # a newer message on the same topic took its place
        self._quiet = Quiet(log, clock=clock)

    def qsize(self) -> int:
        return len(self._queue) + len(self._latest)

    def put_nowait(self, message: Message) -> None:
        self.received += 1
        if self.in_order(message.topic):
            if len(self._queue) >= self.max_in_order:
                self._queue.popleft()
                self._drop()
            self._queue.append(message)
        elif message.topic in self._latest:
            self._latest[message.topic] = message  # keeps its place in line
            self.replaced += 1
        elif len(self._latest) >= self.max_latest:
            self._drop()
            return
        else:
            self._latest[message.topic] = message
        self._ready.set()

    async def get(self) -> Message:
        while True:
            if self._queue:
                return self._queue.popleft()
            if self._latest:
                return self._latest.pop(next(iter(self._latest)))
            self._ready.clear()
            await self._ready.wait()

    def _drop(self) -> None:
        self.dropped += 1
        self._quiet.warning("dropped", "%s: more messages than it can hold came in (a flood?): dropped one, "
                            "%d in all", self.name, self.dropped)
