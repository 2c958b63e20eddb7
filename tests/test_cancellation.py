"""A stop is never lost: a task the daemon cancels ends, even when what it was waiting for arrives
in the same turn of the loop. Python 3.11's ``asyncio.wait_for`` returns the result then and drops
the cancellation (cpython gh-86296); a loop that waited with it went round again, and the daemon's
stop hung (seen: an insight worker answering as the daemon stopped, 30 s until the bench gave up).
The code waits with ``asyncio.timeout`` instead, and ruff bans ``asyncio.wait_for`` (pyproject.toml)."""

from __future__ import annotations

import asyncio

from panic_edge.config import OfflineConfig
from panic_edge.core.topics import Topics
from panic_edge.daemon.connectivity import ConnectivityMonitor
from panic_edge.insight.service import InsightService


async def ends_cancelled(task: asyncio.Task[object]) -> bool:
    done, _ = await asyncio.wait({task}, timeout=5)
    if not done:
        task.cancel()  # a second cancel, so the test itself ends
        await asyncio.gather(task, return_exceptions=True)
        return False
    return task.cancelled()


async def test_the_connectivity_probe_loop_ends_when_cancelled_as_it_is_woken():
    changes: list[bool] = []
    changed = asyncio.Event()

    async def on_change(online: bool) -> None:
        changes.append(online)
        changed.set()

    monitor = ConnectivityMonitor(OfflineConfig(probe_interval=300), [], on_change)  # no targets: online
    task = asyncio.create_task(monitor.run())
    async with asyncio.timeout(5):
        await changed.wait()
    await asyncio.sleep(0)  # the loop is now waiting for its next probe
    monitor.report_unreachable()  # a failed call wakes it ...
    task.cancel()  # ... in the same turn as the daemon's stop
    assert await ends_cancelled(task) and changes == [True]


async def test_the_insight_service_ends_when_cancelled_as_the_worker_answers(config):
    service = InsightService(config, store=None, publisher=None,  # type: ignore[arg-type]  # a done answer writes nothing
                             topics=Topics(config.appliance_id), labels={})
    stdout = asyncio.StreamReader()
    task = asyncio.create_task(service._outcome(stdout))
    await asyncio.sleep(0)
    await asyncio.sleep(0)  # reading the worker's answer
    stdout.feed_data(b'{"kind": "done", "invocation_id": "a", "payload": false}\n')  # the answer comes ...
    task.cancel()  # ... as the daemon stops
    assert await ends_cancelled(task)
