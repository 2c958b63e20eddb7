"""Enter on the controlling terminal as the panic button; a typed line starts a run with it."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable
from typing import TextIO

log = logging.getLogger(__name__)


class Keyboard:
    """Reads lines from a terminal without blocking the loop (``loop.add_reader``)."""

    def __init__(self, on_line: Callable[[str], Awaitable[None]], stream: TextIO = sys.stdin) -> None:
        self._on_line = on_line
        self._stream = stream
        self._loop = asyncio.get_running_loop()
        self._tasks: set[asyncio.Future[None]] = set()  # held until done: the loop keeps only weak references
        self._loop.add_reader(stream.fileno(), self._readable)

    def _readable(self) -> None:
        line = self._stream.readline()
        if line == "":  # end of input: stop listening, keep running
            self.close()
            return
        task = asyncio.ensure_future(self._on_line(line.strip()))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def close(self) -> None:
        try:
            self._loop.remove_reader(self._stream.fileno())
        except (ValueError, OSError):
            pass


def open_keyboard(enabled: bool, on_line: Callable[[str], Awaitable[None]],
                  stream: TextIO = sys.stdin) -> Keyboard | None:
    if not enabled or stream is None or not stream.isatty():
        return None
    log.info("press Enter for the panic button, or type a prompt and press Enter")
    return Keyboard(on_line, stream)
