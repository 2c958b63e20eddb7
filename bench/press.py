"""Press-to-dispatch: a press on gpiozero's mock pin to the first model call of the new run.

A real ``Daemon`` with a MockFactory button (its configured debounce and hold times), the bench
network (no lockout) and the bench platform, whose model calls wait until cancelled, so exactly
one call follows each press. The clock starts in a separate thread just before ``drive_low``
(where gpiozero's own pin thread would be on a Pi) and stops when the platform's ``invoke``
begins. Between presses the network is stopped and the button released past its debounce time.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from gpiozero.pins.mock import MockFactory

from bench.common import (
    BENCH_CATALOGUE,
    BENCH_NETWORKS,
    BenchPlatform,
    bench_config,
    bench_platforms,
    goal,
    latency_stats,
)
from panic_edge.broker import LocalBroker
from panic_edge.daemon.app import Daemon

GOAL_MS = 20.0


async def run(broker: LocalBroker, work: Path, quick: bool, env: dict[str, str] | None = None,
              background: Callable[[Daemon], Coroutine[Any, Any, None]] | None = None) -> dict[str, Any]:
    """``env``: extra config (bench/insight.py turns insight on); ``background``: work to keep going
    on the daemon meanwhile (started once it is ready, cancelled at the end)."""
    presses = 15 if quick else 200
    config = bench_config(work / "press", broker.url, f"bench-press-{os.getpid()}", **(env or {}))
    factory = MockFactory()
    platform = BenchPlatform(latency=3600)  # cancelled by the stop before the next press
    daemon = Daemon(config, BENCH_NETWORKS, catalogue=BENCH_CATALOGUE, pin_factory=factory, stdin=None,
                    handle_signals=False, platforms=bench_platforms(platform))
    task = asyncio.create_task(daemon.run(), name="bench daemon")
    pin = factory.pin(config.button.pin)
    settle = config.button.bounce_time + 0.02

    def press() -> float:
        began = time.monotonic()
        pin.drive_low()
        return began

    latencies: list[float] = []
    busy: asyncio.Task[None] | None = None
    try:
        await asyncio.wait_for(daemon.ready.wait(), 30)
        assert daemon.engine is not None and daemon.bus is not None
        await daemon.bus.wait_connected(10)
        if background is not None:
            busy = asyncio.create_task(background(daemon), name="bench background")
        for _ in range(presses):
            called = platform.call_number(platform.calls + 1)
            began = await asyncio.to_thread(press)
            started = await asyncio.wait_for(called, 10)
            latencies.append(started - began)
            await asyncio.to_thread(pin.drive_high)
            await daemon.engine.stop("bench")
            await asyncio.sleep(settle)
    finally:
        if busy is not None:
            busy.cancel()
            await asyncio.gather(busy, return_exceptions=True)
        daemon.stop()
        await asyncio.wait_for(task, 30)
    stats = latency_stats(latencies)
    return {"what": "ms from a MockFactory button press (drive_low) to the first model call of the run "
                    "it starts, through the real daemon (3 commits on the way: run, invocation, invoking)",
            **stats, **goal(stats["p99_ms"] is not None and stats["p99_ms"] < GOAL_MS,
                            f"p99 under {GOAL_MS:g} ms")}
