"""The retention worker: keeps the archive within ``[archive] max_bytes`` and the disk above
``min_free_bytes``, deleting the oldest output files first while the loop runs.

It checks every ``check_interval`` seconds, and at once when ``poke()``d (the engine does that
each time the disk refuses a write, so a full disk costs a pause, not a stopped loop).

A pass only reads the database until it has deleted files: it sizes new files (a stat each,
off the event loop), measures, chooses and deletes; then it records the sizes and the pruned
marks in one write. On a full disk that write may be refused, but the deleted files have made
room by then; what it could not record is kept and written by a later pass (the engine's
retries poke one). Until then a deleted file's row is not marked, and nothing is the worse for
it: the media server answers its URL with the calm pruned placeholder (410 Gone), the admin page
sees the file missing, replay picks only outputs whose file is there, and the next pass does not
count or choose it again. A crash in between leaves a row that a later pass marks when it comes
to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import shutil
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from panic_edge.config import size_text
from panic_edge.core.retention import Limits, bytes_to_free, choose
from panic_edge.store import Store
from panic_edge.store import retention as queries
from panic_edge.store.retention import Unsized, Usage

log = logging.getLogger("panic_edge.retention")

BATCH = 500  # files sized, or offered for pruning, per read


@dataclass(frozen=True)
class Pass:
    """What one retention pass found and did."""

    archive_bytes: int
    disk_free_bytes: int
    needed: int
    pruned: int
    freed: int
    recorded: bool = True  # False: the database refused the write; a later pass makes it


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
        self.archive_bytes: int | None = None  # as of the last pass (or measure)
        self.listeners: list[Callable[[Pass], None]] = []  # told each pass, on the loop
        self._short = False  # the last pass could not free what the limits asked
        self._refused = False  # the last write was refused (said once until it goes through)
        self._poked = asyncio.Event()
        self._lock = asyncio.Lock()  # one pass at a time
        # what passes learnt but could not write yet (the database refused): measured sizes, and
        # deleted files -> (their bytes, whether the database's total counts them)
        self._sizes: dict[str, int] = {}
        self._gone: dict[str, tuple[int, bool]] = {}

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
                async with asyncio.timeout(self.interval):
                    await self._poked.wait()
            self._poked.clear()

    async def measure(self, most: int | None = BATCH) -> int:
        """The archive's bytes now, new files sized in memory (recorded by the next pass); at most
        ``most`` of them, so a start after an upgrade with a large archive never sized is not held
        up (the first pass sizes the rest)."""
        async with self._lock:
            self.archive_bytes = await self._total(most)
            return self.archive_bytes

    async def usage(self) -> Usage:
        """Sizes recorded, then the archive's usage as the database has it."""
        async with self._lock:
            await self._size_new()
            await self._record()
        return await self.store.read(queries.usage)

    async def check(self) -> Pass:
        """One pass: size new files, measure, delete what the bounds ask for, then record it all."""
        async with self._lock:
            await self._record()  # what an earlier pass could not write
            total = await self._total()
            measured = await asyncio.to_thread(self.free, self.root)
            free = measured if measured is not None else self.limits.min_free_bytes  # unknown: only max_bytes
            need = bytes_to_free(total, free, self.limits)
            pruned = freed = 0
            while freed < need:
                batch = await self.store.read(queries.candidates, self.limits.keep_newest, BATCH,
                                              frozenset(self._gone))
                chosen = choose([replace(c, size=self._sizes.get(c.invocation_id, c.size)) for c in batch],
                                need - freed)
                if not chosen:
                    break
                await asyncio.to_thread(self._delete, [c.file for c in chosen])
                for c in chosen:
                    self._gone[c.invocation_id] = (c.size, c.invocation_id not in self._sizes)
                pruned, freed = pruned + len(chosen), freed + sum(c.size for c in chosen)
                # recorded batch by batch: the next batch's query then needs no growing list of
                # files to leave out (only those a full disk would not let us record yet)
                await self._record()
                if len(batch) < BATCH:
                    break
            recorded = await self._record()
        if pruned:
            log.info("archive retention pruned %d old output files (%s): archive %s, disk free %s", pruned,
                     size_text(freed), size_text(total - freed), size_text(free + freed))
        short = freed < need
        if short and not self._short:  # said once, not at every check, until it clears
            log.warning("archive retention cannot free enough: %s needed, %s freed; the newest %d outputs "
                        "of each network are kept", size_text(need), size_text(freed), self.limits.keep_newest)
        elif self._short and not short:
            log.info("archive retention: the archive and the disk are within their limits again")
        self._short = short
        self.archive_bytes = total - freed
        done = Pass(total - freed, free + freed, need, pruned, freed, recorded)
        for listener in self.listeners:
            listener(done)
        return done

    # --- the steps of a pass ----------------------------------------------------------------------

    async def _total(self, most: int | None = None) -> int:
        """The archive's bytes: the database's sum, with what passes know but could not record."""
        await self._size_new(most)
        recorded = await self.store.read(queries.archive_bytes)
        unrecorded = sum(size for inv_id, size in self._sizes.items() if inv_id not in self._gone)
        return recorded + unrecorded - sum(size for size, counted in self._gone.values() if counted)

    async def _size_new(self, most: int | None = None) -> None:
        """Measure every output whose size is not recorded (or the oldest ``most``): reads and stats only."""
        after: tuple[float, str] | None = None
        seen = 0
        while most is None or seen < most:
            rows = await self.store.read(queries.unsized, BATCH if most is None else min(BATCH, most - seen), after)
            seen += len(rows)
            new = [row for row in rows if row.invocation_id not in self._sizes and row.invocation_id not in self._gone]
            if new:
                self._sizes.update(await asyncio.to_thread(self._stat, new))
            if not rows or len(rows) < BATCH:
                return
            after = (rows[-1].created_at, rows[-1].invocation_id)

    async def _record(self) -> bool:
        """Write the sizes measured and the files deleted; False (kept for later) when refused."""
        if not self._sizes and not self._gone:
            return True
        sizes, gone = dict(self._sizes), list(self._gone)
        try:
            await self.store.write(functools.partial(queries.record_pass, sizes=list(sizes.items()), pruned=gone,
                                                     at=self.clock()))
        except sqlite3.Error as err:  # a full disk: the files are deleted all the same
            if not self._refused:
                log.warning("archive retention: the database refused to record %d pruned files (%s); they "
                            "are deleted, and recorded as soon as it takes writes again", len(gone), err)
            self._refused = True
            return False
        if self._refused:
            log.info("archive retention: recorded the files pruned while the disk was full")
        self._refused = False
        for inv_id in sizes:
            self._sizes.pop(inv_id, None)
        for inv_id in gone:
            self._gone.pop(inv_id, None)
        return True

    def _stat(self, pending: list[Unsized]) -> dict[str, int]:
        out = {}
        for row in pending:
            try:
                out[row.invocation_id] = (self.root / row.file).stat().st_size
            except OSError:
                out[row.invocation_id] = 0  # gone already: counts as nothing, pruned when its turn comes
        return out

    def _delete(self, files: list[str]) -> None:
        root = self.root.resolve()
        for file in files:
            path = (self.root / file).resolve()
            if path.is_relative_to(root):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
