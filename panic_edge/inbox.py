"""What the broker sends, held until it is handled: bounded, in order, and with only the newest
message of each state topic.

Anyone on an open venue network (or any holder of a node login) can publish as fast as the
network allows. A plain queue handled in order grew without limit while a flood went by, and
everything behind the flood waited for every message of it to be handled. So:

- an **event** (a command, an invocation: every one matters) waits in line like any message;
- a **state** message (a node's status, an installation, anything that says "the state is now
  ..."), given ``coalesce``, takes the place of the one of its topic still waiting: the older is
  dropped and the newer goes to the back of the line, so the order between topics still holds
  (a network's state is never handled before the invocations sent ahead of it);
- at most ``max_size`` messages, and ``max_bytes`` of payload, wait; beyond that the oldest go
  (a broker may pass messages of up to 256 MB: ten thousand of those would not fit a Pi).

Replaced and dropped messages are counted, and drops said in the log at most once a minute.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING

from panic_edge.quiet import Quiet

if TYPE_CHECKING:
    from panic_edge.bus import Message

log = logging.getLogger(__name__)

MAX_SIZE = 10_000
MAX_BYTES = 32 * 2**20


def never(topic: str) -> bool:
    return False


class Inbox:
    """``put_nowait`` from the event loop's thread (the bus's callbacks), ``await get()`` on it."""

    def __init__(self, coalesce: Callable[[str], bool] = never, *, name: str = "MQTT", max_size: int = MAX_SIZE,
                 max_bytes: int = MAX_BYTES, clock: Callable[[], float] = time.monotonic) -> None:
        self.coalesce = coalesce
        self.name = name
        self.max_size = max_size
        self.max_bytes = max_bytes
        self._bytes = 0  # the payloads waiting
        # a state message waits under its topic; an event under "\0<n>" (no topic holds U+0000)
        self._waiting: OrderedDict[str, Message] = OrderedDict()
        self._events = itertools.count()
        self._ready = asyncio.Event()
        self.received = 0
        self.replaced = 0  # a newer message on the same state topic took its place
        self.dropped = 0  # the oldest, for room
        self._quiet = Quiet(log, clock=clock)

    def qsize(self) -> int:
        return len(self._waiting)

    def put_nowait(self, message: Message) -> None:
        self.received += 1
        if self.coalesce(message.topic):
            key = message.topic
            older = self._waiting.pop(key, None)
            if older is not None:
                self._bytes -= len(older.payload)
                self.replaced += 1
        else:
            key = f"\0{next(self._events)}"
        size = len(message.payload)
        while self._waiting and (len(self._waiting) >= self.max_size or self._bytes + size > self.max_bytes):
            self._bytes -= len(self._waiting.popitem(last=False)[1].payload)
            self.dropped += 1
            self._quiet.warning("dropped", "%s: more messages than it can hold came in (a flood?): dropped "
                                "the oldest, %d in all", self.name, self.dropped)
        self._waiting[key] = message
        self._bytes += size
        self._ready.set()

    async def get(self) -> Message:
        while not self._waiting:
            self._ready.clear()
            await self._ready.wait()
        message = self._waiting.popitem(last=False)[1]
        self._bytes -= len(message.payload)
        return message
