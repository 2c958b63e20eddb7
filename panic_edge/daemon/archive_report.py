"""``panic-edge archive``: the archive's usage in words, and a retention pass on demand.

It opens the database beside a running daemon (WAL: readers never block it, and the one write,
the pruned mark, waits its turn), so a technician can look and prune without stopping anything.
"""

from __future__ import annotations

import shutil

from panic_edge.config import Config, size_text
from panic_edge.core.retention import Limits
from panic_edge.daemon.retention import Retention
from panic_edge.store import Store


def _mb(n: int | None) -> str:
    """Binary units, as the config takes them (``4GB`` is 4 GiB) and df shows them."""
    return "no limit" if n is None else size_text(n)


async def archive_report(config: Config, prune: bool = False) -> str:
    limits = Limits(config.archive.max_bytes, config.archive.min_free_bytes, config.archive.keep_newest)
    async with Store.open(config.database_path) as store:
        retention = Retention(store, config.archive_dir, limits)
        done = await retention.check() if prune else None
        usage = await retention.usage()
    free = shutil.disk_usage(config.data_dir).free
    lines = [(f"archive {config.archive_dir}: {_mb(usage.bytes)} in {usage.files:,} files "
              f"({usage.pruned:,} older outputs pruned so far)"),
             (f"limits: at most {_mb(limits.max_bytes)}, keep {_mb(limits.min_free_bytes)} of disk free, never "
              f"the newest {limits.keep_newest} of a network; free disk now {_mb(free)}")]
    lines += [f"  {network}: {_mb(size)}" for network, size in sorted(usage.by_network.items(), key=lambda i: -i[1])]
    if done is not None:
        if not done.recorded:
            lines.append("the database refused to record what was pruned (is the disk full?): the files are "
                         "deleted; their rows are marked when retention next comes to them")
        if not done.needed:
            lines.append("nothing to prune: both limits hold")
        else:
            if done.pruned:
                lines.append(f"pruned {done.pruned} files ({_mb(done.freed)})")
            if done.freed < done.needed:
                lines.append(f"could not free {_mb(done.needed - done.freed)} more: only the newest "
                             f"{limits.keep_newest} outputs of each network are left")
    return "\n".join(lines)
