"""Loop overhead: zero-latency models through the whole daemon, against the same work done bare.

The daemon side is a real ``Daemon`` (store, archive, MQTT bus, HTTP thread, mock GPIO button)
whose only stand-in is the bench platform: a painter that answers at once with a 1x1 PNG (so
every other output is archived) and a captioner that answers with a fixed line. The rate is
timed between two model calls, so start-up and shut-down are outside it. The limit is
``bench.minimal``, run in the same broker with the same commits, files and message count.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import statistics
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bench.common import BENCH_CATALOGUE, BENCH_NETWORKS, BenchPlatform, bench_config, bench_platforms, goal
from bench.subscribers import SubscriberProcess
from panic_edge.broker import LocalBroker
from panic_edge.daemon.app import Daemon

GOAL = 0.60
WARMUP = 50


async def daemon_rate(broker: LocalBroker, work: Path, n: int, env: dict[str, str] | None = None,
                      prepare: Callable[[Daemon], Awaitable[None]] | None = None) -> dict[str, Any]:
    """Invocations per second of a real in-process daemon over ``n`` invocations after a warm-up
    (``env``: extra config, e.g. insight on; ``prepare``: awaited once the daemon is ready)."""
    appliance = f"bench-loop-{work.name}"
    config = bench_config(work / "daemon", broker.url, appliance, **(env or {}))
    counter = SubscriberProcess(broker.url, f"panic/{appliance}/#")
    platform = BenchPlatform()
    daemon = Daemon(config, BENCH_NETWORKS, catalogue=BENCH_CATALOGUE, stdin=None, handle_signals=False,
                    platforms=bench_platforms(platform))
    task = asyncio.create_task(daemon.run(), name="bench daemon")
    try:
        await asyncio.wait_for(daemon.ready.wait(), 30)
        assert daemon.bus is not None and daemon.engine is not None
        if not await daemon.bus.wait_connected(10):
            raise RuntimeError("the daemon did not reach the bench broker")
        if prepare is not None:
            await prepare(daemon)
        first, last = platform.call_number(WARMUP + 1), platform.call_number(WARMUP + n + 1)
        await daemon.engine.start("bench", "a camel in the desert")
        began = await asyncio.wait_for(first, 30)
        ended = await asyncio.wait_for(last, 30 + n / 20)  # even at 20/s it finishes
        await daemon.engine.stop("bench")
    finally:
        daemon.stop()
        await asyncio.wait_for(task, 30)
    arrivals = counter.dump()
    in_window = sum(1 for _, t, _ in arrivals if began * 1e9 <= t <= ended * 1e9)
    return {"invocations": n, "seconds": round(ended - began, 4), "per_second": round(n / (ended - began), 1),
            "publishes_per_invocation": round(in_window / n, 2)}


def minimal_rate(broker: LocalBroker, work: Path, n: int, publishes: int) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.minimal", "--db", str(work / "minimal.sqlite3"), "--files",
         str(work / "minimal-files"), "--url", broker.url, "--topic", "panic/bench-minimal/invocations",
         "--n", str(n), "--publishes", str(publishes)],
        capture_output=True, text=True, timeout=120 + n / 20, cwd=Path(__file__).resolve().parent.parent,
        check=False)
    if out.returncode != 0:
        raise RuntimeError(f"bench.minimal failed: {out.stderr[-800:]}")
    return dict(json.loads(out.stdout.splitlines()[-1]))


async def run(broker: LocalBroker, work: Path, quick: bool) -> dict[str, Any]:
    """Daemon and limit in alternating rounds (the disk's fsync time drifts with what else the
    machine does; a round pairs two runs made under the same conditions): the median ratio."""
    n, rounds = (300, 1) if quick else (1500, 5)
    daemon_log = work / "loop-daemon.log"
    handler = logging.FileHandler(daemon_log)  # the daemon logs each invocation, as in production
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
    root = logging.getLogger("panic_edge")
    root.addHandler(handler)
    old_level = root.level
    pairs: list[tuple[dict[str, Any], dict[str, Any]]] = []
    try:
        for index in range(rounds):
            await asyncio.to_thread(os.sync)  # the last run's files written back: each starts from a clean disk
            root.setLevel(logging.INFO)
            daemon = await daemon_rate(broker, work / f"loop-{index}", n)
            root.setLevel(old_level)
            publishes = max(1, round(daemon["publishes_per_invocation"]))
            await asyncio.to_thread(os.sync)
            minimal = await asyncio.to_thread(minimal_rate, broker, work / f"minimal-{index}", n, publishes)
            pairs.append((daemon, minimal))
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        handler.close()
    ratios = [d["per_second"] / m["per_second"] for d, m in pairs]
    ratio = round(statistics.median(ratios), 3)
    daemon, minimal = pairs[ratios.index(statistics.median_low(ratios))]
    return {
        "what": "invocations/s of zero-latency models through the daemon (one commit per invocation, every "
                "other output archived, its MQTT messages) vs the least durable work: a bare script "
                "doing one synchronous=FULL transaction per invocation, the same files and QoS 1 publishes",
        "daemon": daemon,
        "minimal": {**minimal, "commits_per_invocation": 1, "files_per_invocation": 0.5,
                    "publishes_per_invocation": publishes},
        "rounds": [{"daemon": d["per_second"], "minimal": m["per_second"], "ratio": round(r, 3)}
                   for (d, m), r in zip(pairs, ratios, strict=True)],
        "ratio": ratio,
        **goal(ratio >= GOAL, f"daemon rate >= {GOAL:.0%} of the minimal script's (median of the rounds)"),
    }
