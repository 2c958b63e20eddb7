"""Log lines about what anyone can send, at most once a minute per kind.

A message that is malformed, refused or dropped is worth a line in the log, but not a line per
message: on an open venue network anyone can send thousands a second, and every line is SD-card
wear and journal space. ``Quiet.warning`` says the first at once, then at most one line per
``every`` seconds for the same ``kind``, counting the ones it kept quiet.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

EVERY = 60.0
MAX_KINDS = 256  # kinds remembered; a new one beyond that evicts the oldest


class Quiet:
    def __init__(self, logger: logging.Logger, every: float = EVERY,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.logger = logger
        self.every = every
        self.clock = clock
        self._said: dict[str, tuple[float, int]] = {}  # kind -> (when last said, kept quiet since)

    def warning(self, kind: str, message: str, *args: object) -> bool:
        """Log ``message % args`` unless ``kind`` was said less than ``every`` seconds ago; True if said."""
        now = self.clock()
        said = self._said.get(kind)
        if said is not None and now - said[0] < self.every:
            self._said[kind] = (said[0], said[1] + 1)
            return False
        quiet = said[1] if said is not None else 0
        self._said.pop(kind, None)
        self._said[kind] = (now, 0)
        while len(self._said) > MAX_KINDS:
            del self._said[next(iter(self._said))]
        suffix = f" ({quiet} more like it since the last line)" if quiet else ""
        self.logger.warning(message + "%s", *args, suffix)
        return True
