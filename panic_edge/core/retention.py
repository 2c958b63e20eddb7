"""Archive retention: which output files to delete so the archive stays within its bounds.

Two bounds: ``max_bytes`` for the archive itself, and ``min_free_bytes`` of free disk (other
things live on the SD card too). When either is crossed, files go oldest first: files of ended
runs before those of the run still going, and never the newest ``keep_newest`` outputs of a
network, which the screens may still be showing. The database rows stay; a pruned output is
marked as such and shown as a calm placeholder.

Pure: the shell lists candidates (oldest first) with their sizes and measures the disk.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    max_bytes: int | None = None  # None: no cap on the archive itself
    min_free_bytes: int = 0
    keep_newest: int = 64  # per network: what the screens may still show


@dataclass(frozen=True)
class StoredFile:
    invocation_id: str
    network: str
    file: str
    size: int
    running: bool  # the file belongs to a run that is still going


def bytes_to_free(archive_bytes: int, disk_free_bytes: int, limits: Limits) -> int:
    """How many bytes must go for both bounds to hold (0 when they already do)."""
    over_archive = archive_bytes - limits.max_bytes if limits.max_bytes is not None else 0
    under_disk = limits.min_free_bytes - disk_free_bytes
    return max(0, over_archive, under_disk)


def choose(candidates: Iterable[StoredFile], need: int) -> list[StoredFile]:
    """Files to delete to free ``need`` bytes: ended runs' files first, then the running ones',
    each oldest first as given. ``candidates`` already leave out the protected newest outputs.
    Returns fewer than ``need`` bytes' worth when there is not enough to delete."""
    if need <= 0:
        return []
    ended: list[StoredFile] = []
    running: list[StoredFile] = []
    freed = 0
    for item in candidates:
        if item.running:
            running.append(item)
            continue
        ended.append(item)
        freed += item.size
        if freed >= need:
            return ended
    chosen = list(ended)
    for item in running:
        if freed >= need:
            break
        chosen.append(item)
        freed += item.size
    return chosen
