"""Networks side by side: the total loop rate at 1, 4, 16 and 64 networks, and how fairly they share it.

A real in-process ``Daemon`` (store, archive, MQTT bus, HTTP thread, mock button; every
invocation logged to a file, as in production) runs N copies of the bench network (a painter
answering at once with a 1x1 PNG, a captioner with a fixed line), all started together. After a
warm-up, a window of model calls is timed; each network's steps in the window come from the
engine's own runner states. Fairness is the slowest network's steps over the fastest's.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from bench.common import BENCH_CATALOGUE, BENCH_NETWORK, BenchPlatform, bench_config, bench_platforms, goal
from panic_edge.broker import LocalBroker
from panic_edge.core.network import Network
from panic_edge.daemon.app import Daemon
from panic_edge.network_files import LoadedNetworks

SCALING_GOAL = 1.5  # 16 networks' total rate over one network's
FAIRNESS_GOAL = 0.8  # at 64 networks


def networks(count: int) -> LoadedNetworks:
    nets = [Network(f"bench{i:02d}", f"Bench {i}", BENCH_NETWORK.models, lockout_seconds=0,
                    prompts=BENCH_NETWORK.prompts, pacing=BENCH_NETWORK.pacing) for i in range(count)]
    return LoadedNetworks({n.slug: n for n in nets}, {})


async def side_by_side(broker: LocalBroker, work: Path, count: int, calls: int) -> dict[str, Any]:
    """Total invocations per second and per-network steps over ``calls`` model calls."""
    loaded = networks(count)
    slugs = list(loaded.networks)
    config = bench_config(work / f"networks-{count}", broker.url, f"bench-networks-{work.name}-{count}",
                          PANIC_EDGE_DEFAULT_NETWORK=slugs[0])
    platform = BenchPlatform()
    daemon = Daemon(config, loaded, catalogue=BENCH_CATALOGUE, stdin=None, handle_signals=False,
                    platforms=bench_platforms(platform))
    task = asyncio.create_task(daemon.run(), name="bench daemon")
    warmup = max(50, 5 * count)
    try:
        await asyncio.wait_for(daemon.ready.wait(), 30)
        assert daemon.engine is not None and daemon.bus is not None
        engine = daemon.engine
        if not await daemon.bus.wait_connected(10):
            raise RuntimeError("the daemon did not reach the bench broker")
        first, last = platform.call_number(warmup + 1), platform.call_number(warmup + calls + 1)
        await asyncio.gather(*(engine.start(slug, "a camel in the desert") for slug in slugs))

        def steps() -> dict[str, int]:
            return {slug: run.sequence for slug in slugs if (run := engine.states[slug].run) is not None}

        began = await asyncio.wait_for(first, 60)
        at_start = steps()
        ended = await asyncio.wait_for(last, 60 + calls / 20)
        at_end = steps()
        await engine.stop_all()
    finally:
        daemon.stop()
        await asyncio.wait_for(task, 60)
    made = [at_end.get(slug, 0) - at_start.get(slug, 0) for slug in slugs]
    return {"networks": count, "invocations": sum(made), "seconds": round(ended - began, 3),
            "per_second": round(sum(made) / (ended - began), 1),
            "steps_slowest": min(made), "steps_fastest": max(made),
            "fairness": round(min(made) / max(made), 3) if max(made) else None}


async def run(broker: LocalBroker, work: Path, quick: bool) -> dict[str, Any]:
    sizes = (1, 4) if quick else (1, 4, 16, 64)
    handler = logging.FileHandler(work / "networks-daemon.log")  # every invocation logged, as in production
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
    root = logging.getLogger("panic_edge")
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.INFO)
    results: dict[str, Any] = {}
    try:
        for count in sizes:
            calls = 300 if quick else max(3000, 100 * count)
            results[str(count)] = await side_by_side(broker, work, count, calls)
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        handler.close()
    one = results["1"]["per_second"]
    scaling = {size: round(r["per_second"] / one, 2) for size, r in results.items()}
    met = None
    if not quick:
        met = scaling["16"] >= SCALING_GOAL and (results["64"]["fairness"] or 0) >= FAIRNESS_GOAL
    return {"what": "total invocations/s of N bench networks at zero model latency in one daemon, and "
                    "fairness (slowest network's steps / fastest's in the same window)",
            "sizes": results, "scaling_vs_one": scaling,
            **goal(bool(met), f"16 networks >= {SCALING_GOAL}x one network's rate; fairness >= "
                              f"{FAIRNESS_GOAL} at 64")}
