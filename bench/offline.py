"""Offline and back: how soon the daemon notices that the model platforms went away, and came back.

A real in-process ``Daemon`` with the default probe intervals runs a network of one cloud-like
model (``benchcloud``, 50 ms per call) that answers only while "the internet" is up: a TCP
listener on loopback, which is also the connectivity probe's target. The listener is closed and
opened again a few times; *offline* is the time from closing it to the appliance status saying
offline (the network holds its step); *back* is the time from opening it to the next completed
call.
"""

from __future__ import annotations

import asyncio
import socket
import statistics
import time
from pathlib import Path
from typing import Any

from bench.common import bench_config, goal
from panic_edge.broker import LocalBroker
from panic_edge.core.catalogue import Catalogue
from panic_edge.core.media import MediaType
from panic_edge.core.model import Model
from panic_edge.core.network import Network
from panic_edge.daemon.app import Daemon
from panic_edge.network_files import LoadedNetworks
from panic_edge.platforms.base import ModelInput, ModelOutput, Platforms
from panic_edge.platforms.errors import UnreachableError

GOAL_SECONDS = 5.0  # "within a few seconds", with the default probe intervals
CLOUD_POET = Model("bench-cloud-poet", "Bench Cloud Poet", "benchcloud", MediaType.TEXT, MediaType.TEXT,
                   "Answers after 50 ms while the loopback 'internet' is up.")
NETWORK = Network("cloudy", "Cloudy", (CLOUD_POET.id,), lockout_seconds=0, offline_policy="pause",
                  pacing=((0.0, 0.0),))


class Internet:
    """A loopback listener standing in for the platforms' hosts, and a platform (``name``) that
    answers only while it is up. Also the offline tests' internet (tests/test_offline.py)."""

    needs_internet = True

    def __init__(self, name: str = "benchcloud") -> None:
        self.name = name
        self.sock: socket.socket | None = None
        self.port = 0
        self.calls = 0  # completed calls
        self.up()

    def up(self) -> None:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        sock.listen(16)
        self.sock, self.port = sock, sock.getsockname()[1]

    def down(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    async def invoke(self, model: Model, given: ModelInput) -> ModelOutput:
        await asyncio.sleep(0.05)
        if self.sock is None:
            raise UnreachableError(f"{self.name}: connection refused")
        self.calls += 1
        return ModelOutput(text=f"{(given.text or '')[:200]} and then", meta={"cost_usd": 0.001})

    async def aclose(self) -> None:
        self.down()


def seconds(values: list[float]) -> dict[str, Any]:
    ordered = sorted(values)
    return {"n": len(ordered), "median_s": round(statistics.median(ordered), 3), "max_s": round(ordered[-1], 3)}


async def until(condition: Any, timeout: float) -> float:
    began = time.monotonic()
    while not condition():
        if time.monotonic() - began > timeout:
            raise TimeoutError(f"not within {timeout} s")
        await asyncio.sleep(0.005)
    return time.monotonic() - began


async def run(broker: LocalBroker, work: Path, quick: bool) -> dict[str, Any]:
    cycles = 1 if quick else 4
    internet = Internet()
    config = bench_config(work / "offline", broker.url, f"bench-offline-{work.name}",
                          PANIC_EDGE_DEFAULT_NETWORK=NETWORK.slug,
                          PANIC_EDGE_OFFLINE_PROBE=f"127.0.0.1:{internet.port}")
    daemon = Daemon(config, LoadedNetworks({NETWORK.slug: NETWORK}, {}), catalogue=Catalogue([CLOUD_POET]),
                    stdin=None, handle_signals=False, platforms=Platforms({"benchcloud": internet}))
    task = asyncio.create_task(daemon.run(), name="bench daemon")
    offline, back = [], []
    try:
        await asyncio.wait_for(daemon.ready.wait(), 30)
        assert daemon.engine is not None
        engine = daemon.engine
        await until(lambda: daemon.status()["internet"] == "online", 30)
        await engine.start(NETWORK.slug, "a lighthouse")
        for _ in range(cycles):
            done = internet.calls
            await until(lambda done=done: internet.calls >= done + 3, 30)
            internet.down()
            offline.append(await until(lambda: daemon.status()["internet"] == "offline"
                                       and bool((run := engine.states[NETWORK.slug].run) and run.held), 30))
            done = internet.calls
            internet.up()
            back.append(await until(lambda done=done: internet.calls > done, 30))
        await engine.stop_all()
    finally:
        daemon.stop()
        await asyncio.wait_for(task, 30)
        internet.down()
    met = max(offline + back) < GOAL_SECONDS
    return {"what": "seconds from the platforms going away to the status saying offline (the step held), and "
                    "from their return to the next completed call, default probe intervals "
                    f"({config.offline.probe_interval:g} s online, {config.offline.offline_probe_interval:g} s "
                    f"offline, {config.offline.probe_timeout:g} s timeout)",
            "offline": seconds(offline), "back": seconds(back),
            **goal(met, f"each within {GOAL_SECONDS:g} s")}
