"""How panic-edge's processes log: one line per record on stderr (systemd's journal adds the time).

Its own module, importing nothing else of panic-edge, so a small process (the insight worker) can
log as the daemon does without importing the CLI and everything behind it.
"""

from __future__ import annotations

import logging
import os
import sys


def setup_logging(verbose: bool = False) -> None:
    under_systemd = "JOURNAL_STREAM" in os.environ or "INVOCATION_ID" in os.environ
    fmt = "%(levelname)s %(name)s: %(message)s" if under_systemd else "%(asctime)s %(message)s"
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format=fmt, datefmt="%H:%M:%S",
                        stream=sys.stderr)
    for noisy in ("waitress", "PIL"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
