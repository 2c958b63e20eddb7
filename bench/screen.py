"""Screen node: decode and show a 1024x1024 webp; re-layout a 4x4 grid.

Not yet: the screen node is being built on another branch (issue 3). When it lands, ``run`` starts
one with SDL's dummy drivers, times ``show`` of a 1024x1024 webp and a 4x4 re-layout (median, p99,
max from ``latency_stats``), and reads its RSS for the footprint; the slot and its keys stay put.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from panic_edge.broker import LocalBroker

STATUS = "not yet: screen node lands with issue 3"


def run(broker: LocalBroker, work: Path, quick: bool) -> dict[str, Any]:
    return {"status": STATUS, "decode_and_show_webp_1024": None, "relayout_grid_4x4": None}
