"""A daemon can be given its own platform clients (benchmarks do), instead of the config's."""

from __future__ import annotations

import asyncio

from bench.common import BENCH_CATALOGUE, BENCH_NETWORKS, BenchPlatform, bench_config, bench_platforms
from panic_edge.broker import LocalBroker
from panic_edge.core.invocation import InvocationState
from panic_edge.daemon.app import Daemon


async def test_a_daemon_given_platforms_calls_them(tmp_path, broker: LocalBroker):
    platform = BenchPlatform()
    config = bench_config(tmp_path / "data", broker.url, f"test-platforms-{id(tmp_path)}")
    daemon = Daemon(config, BENCH_NETWORKS, catalogue=BENCH_CATALOGUE, stdin=None, handle_signals=False,
                    platforms=bench_platforms(platform))
    task = asyncio.create_task(daemon.run())
    try:
        await asyncio.wait_for(daemon.ready.wait(), 10)
        assert daemon.engine is not None
        third_call = platform.call_number(3)
        run_id = await daemon.engine.start("bench", "a camel")
        await asyncio.wait_for(third_call, 10)
        await daemon.engine.stop("bench")
        done = [inv for inv in await daemon.engine.store.run_invocations(run_id) if inv.state is InvocationState.COMPLETED]
        assert [inv.model for inv in done[:2]] == ["bench-painter", "bench-captioner"]
        assert done[0].output is not None and done[0].output.mime == "image/png"  # archived
    finally:
        daemon.stop()
        await asyncio.wait_for(task, 10)
