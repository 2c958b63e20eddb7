"""The retention worker: keeps the archive within ``[archive] max_bytes`` and the disk above
``min_free_bytes``, deleting the oldest output files first while the loop runs.

It checks every ``check_interval`` seconds, and at once when ``poke()``d (the engine does that
when the disk refuses a write, so a full disk costs one pause, not a stopped loop). Sizes of new
files are recorded as it goes (a stat per file, off the event loop). A file is deleted before its
row is marked pruned: a crash in between leaves a row that the next pass finds and marks.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from panic_edge.core.retention import Limits, bytes_to_free, choose
from panic_edge.store import Store
from panic_edge.store import retention as queries
from panic_edge.store.retention import Usage

log = logging.getLogger("panic_edge.retention")


@dataclass(frozen=True)
class Pass:
    """What one retention pass found and did."""

    archive_bytes: int
    disk_free_bytes: int
    needed: int
    pruned: int
    freed: int


def disk_free(path: Path) -> int | None:
    """Free bytes on the disk that holds ``path`` (or its nearest existing folder: the archive
    is made with its first file); None when that cannot be read (then only max_bytes counts)."""
    for folder in (path, *path.parents):
        if folder.exists():
            try:
                return shutil.disk_usage(folder).free
            except OSError:
                return None
    return None


class Retention:
    def __init__(self, store: Store, archive_root: Path, limits: Limits, interval: float = 60.0,
                 clock: Callable[[], float] = time.time,
                 free: Callable[[Path], int | None] = disk_free) -> None:
        self.store = store
        self.root = archive_root
        self.limits = limits
        self.interval = interval
        self.clock = clock
        self.free = free
        self.archive_bytes: int | None = None  # as of the last pass
        self._short = False  # the last pass could not free what the limits asked
        self._poked = asyncio.Event()

    def poke(self) -> None:
        """Check now (the disk refused a write)."""
        self._poked.set()

    async def run(self) -> None:
        while True:
            try:
                await self.check()
            except Exception:  # a bug must not end retention for weeks: log it, try again later
                log.exception("archive retention failed; trying again in %.0f s", self.interval)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._poked.wait(), self.interval)
            self._poked.clear()

    async def record_sizes(self) -> None:
        while True:
            pending = await self.store.read(queries.unsized)
            if not pending:
                return
            sizes = await asyncio.to_thread(self._sizes, pending)
            await self.store.write(functools.partial(queries.record_sizes, sizes=sizes))

    def _sizes(self, pending: list[tuple[str, str]]) -> list[tuple[str, int]]:
        out = []
        for inv_id, file in pending:
            try:
                out.append((inv_id, (self.root / file).stat().st_size))
            except OSError:
                out.append((inv_id, 0))  # gone already: counts as nothing, pruned when its turn comes
        return out

    async def usage(self) -> Usage:
        await self.record_sizes()
        return await self.store.read(queries.usage)

    async def check(self) -> Pass:
        """One pass: record new sizes, measure, prune what the bounds ask for."""
        await self.record_sizes()
        total = await self.store.read(queries.archive_bytes)
        measured = await asyncio.to_thread(self.free, self.root)
        free = measured if measured is not None else self.limits.min_free_bytes  # unknown: only max_bytes
        need = bytes_to_free(total, free, self.limits)
        pruned = freed = 0
        if need:
            candidates = await self.store.read(queries.candidates, self.limits.keep_newest)
            chosen = choose(candidates, need)
            if chosen:
                await asyncio.to_thread(self._delete, [c.file for c in chosen])
                ids = [c.invocation_id for c in chosen]
                await self.store.write(lambda conn: queries.mark_pruned(conn, ids, self.clock()))
                pruned, freed = len(chosen), sum(c.size for c in chosen)
                log.info("archive retention pruned %d old output files (%.1f MB): archive %.1f MB, "
                         "disk free %.1f MB", pruned, freed / 1e6, (total - freed) / 1e6, (free + freed) / 1e6)
        short = freed < need
        if short and not self._short:  # said once, not at every check, until it clears
            log.warning("archive retention cannot free enough: %.1f MB needed, %.1f MB freed; the "
                        "newest %d outputs of each network are kept", need / 1e6, freed / 1e6,
                        self.limits.keep_newest)
        elif self._short and not short:
            log.info("archive retention: the archive and the disk are within their limits again")
        self._short = short
        self.archive_bytes = total - freed
        return Pass(total - freed, free + freed, need, pruned, freed)

    def _delete(self, files: list[str]) -> None:
        root = self.root.resolve()
        for file in files:
            path = (self.root / file).resolve()
            if path.is_relative_to(root):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
