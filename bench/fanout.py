"""Fan-out latency: an invocation's commit in the daemon to its arrival at 1, 10 and 50 subscribers.

The daemon side is the daemon's own parts wired as ``Daemon.run`` wires them (the SQLite store,
the archive, the MQTT bus, the engine, a status message on every state change), built through
their public constructors so that the store can note the moment each commit returns: that is
where the clock starts. The models pause ``PACE`` seconds, so this measures latency, not a queue.
The bare side is one paho client publishing messages of the same size, count and rhythm, its
clock starting just before ``publish``. Subscribers run in another process (bench.subscribers):
bare paho clients, and display nodes with rendering off.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from bench.common import (
    BENCH_CATALOGUE,
    BENCH_NETWORKS,
    BenchPlatform,
    bench_config,
    bench_platforms,
    goal,
    latency_stats,
)
from bench.minimal import invocation_body
from bench.subscribers import SubscriberProcess
from panic_edge.archive import Archive
from panic_edge.broker import LocalBroker
from panic_edge.bus import MqttBus, Will
from panic_edge.core.invocation import Invocation, InvocationState
from panic_edge.core.topics import Topics
from panic_edge.daemon.engine import Engine
from panic_edge.store import Store

SIZES = (1, 10, 50)
KINDS = ("bare", "display")  # subscriber kinds (bench.subscribers.KINDS)
# 50 display nodes in one benchmark process need ~5 CPU-seconds per second here (each message
# costs a node ~0.3 ms of Python: paho, parsing, the feed), more than 2 cores have: that figure
# would measure this machine's CPU, not the fan-out. On site each node is its own machine.
KIND_SIZES = {"bare": SIZES, "display": (1, 10)}
PACE = 0.03  # seconds each model call takes here
GOAL = 1.5
T = TypeVar("T")


class TimedStore(Store):
    """The real store, noting when each invocation state's commit returns to the loop
    (``<id>/<state>`` -> monotonic): the moment the engine may publish it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.committed: dict[str, float] = {}

    def submit(self, fn: Callable[[sqlite3.Connection], T], committing: Callable[[], None] | None = None,
               background: bool = False) -> asyncio.Future[T]:
        future = super().submit(fn, committing, background)
        future.add_done_callback(self._stamp)  # runs before the engine hears of the commit
        return future

    def _stamp(self, future: asyncio.Future[Any]) -> None:
        if future.cancelled() or future.exception() is not None:
            return
        now, result = time.monotonic(), future.result()
        for inv in result if isinstance(result, list) else ():
            if isinstance(inv, Invocation):  # every state is published, so every one is expected
                self.committed.setdefault(f"{inv.id}/{inv.state.value}", now)
                if inv.state is InvocationState.INVOKING:  # created and called in one commit
                    self.committed.setdefault(f"{inv.id}/ready", now)


async def daemon_fanout(broker: LocalBroker, work: Path, subscribers: int, kind: str,
                        invocations: int) -> dict[str, Any]:
    appliance = f"bench-fanout-{os.getpid()}-{kind}-{subscribers}"
    config = bench_config(work / f"fanout-{kind}-{subscribers}", broker.url, appliance)
    topics = Topics(appliance)
    subs = SubscriberProcess(broker.url, topics.invocations("bench"), kind, subscribers)
    platform = BenchPlatform(latency=PACE)
    status = json.dumps({"appliance_id": appliance, "networks": {"bench": {"state": "running"}},
                         "pad": "x" * 400}).encode()  # the size of the daemon's status message
    async with TimedStore.open(config.database_path) as store:
        bus = MqttBus(config.mqtt, f"panic-edge-{appliance}", will=Will(topics.availability, b"offline"),
                      on_connect_publish=((topics.availability, b"online", True),))
        bus.start()
        try:
            if not await bus.wait_connected(10):
                raise RuntimeError("the bench bus did not reach the broker")
            engine = Engine(BENCH_NETWORKS.networks, BENCH_CATALOGUE, store, Archive(config.archive_dir),
                            bench_platforms(platform), bus, topics, "http://127.0.0.1:9")
            engine.on_state_change(lambda _: bus.publish(topics.status, status, qos=1, retain=True))
            done = platform.call_number(invocations + 1)
            await engine.start("bench", "a camel in the desert")
            await asyncio.wait_for(done, 60 + invocations)
            await engine.aclose()
        finally:
            await bus.stop()
        committed = dict(store.committed)
    # every committed state, at every subscriber (the bench network never fails a step)
    arrivals = await asyncio.to_thread(subs.dump, 30, len(committed) * subscribers)
    return _latencies(committed, arrivals, subscribers)


def bare_fanout(broker: LocalBroker, subscribers: int, kind: str, invocations: int) -> dict[str, Any]:
    topic = f"panic/bench-bare-{os.getpid()}-{kind}-{subscribers}/networks/bench/invocations"
    subs = SubscriberProcess(broker.url, topic, kind, subscribers)
    connected = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-bare-{os.getpid()}")
    client.on_connect = lambda *_: connected.set()
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    if not connected.wait(10):
        raise RuntimeError("the bare publisher did not reach the broker")
    sent: dict[str, float] = {}
    try:
        for sequence in range(invocations):
            for state in ("ready", "invoking", "completed"):
                key = f"bare.{sequence}/{state}"
                body = json.loads(invocation_body(f"bare.{sequence}", "bare", sequence, state))
                payload = json.dumps({"key": key, **body}).encode()
                sent[key] = time.monotonic()
                client.publish(topic, payload, qos=1)
            time.sleep(PACE)
        arrivals = subs.dump(30, len(sent) * subscribers)
    finally:
        client.disconnect()
        client.loop_stop()
    return _latencies(sent, arrivals, subscribers)


def _latencies(sent: dict[str, float], arrivals: list[tuple[int, int, str | None]],
               subscribers: int) -> dict[str, Any]:
    latencies = [t / 1e9 - sent[key] for _, t, key in arrivals if key in sent]
    expected = len(sent) * subscribers
    seen: dict[str, int] = {}
    for _, _, key in arrivals:
        if key in sent:
            seen[key] = seen.get(key, 0) + 1
    short = {key: subscribers - seen.get(key, 0) for key in sent if seen.get(key, 0) < subscribers}
    return {**latency_stats(latencies), "messages": len(sent), "lost": expected - len(latencies),
            "lost_by_message": dict(list(short.items())[:10])}  # which ones, to tell a cause


async def run(broker: LocalBroker, work: Path, quick: bool) -> dict[str, Any]:
    invocations = 5 if quick else 100
    results: dict[str, Any] = {}
    met = True
    for kind in KINDS:
        for size in KIND_SIZES[kind]:
            daemon = await daemon_fanout(broker, work, size, kind, invocations)
            bare = await asyncio.to_thread(bare_fanout, broker, size, kind, invocations)
            ratio = round(daemon["p99_ms"] / bare["p99_ms"], 2) if daemon["n"] and bare["n"] else None
            ok = ratio is not None and ratio <= GOAL and daemon["lost"] == 0
            met = met and ok
            results.setdefault(kind, {})[str(size)] = {"daemon": daemon, "bare": bare, "p99_ratio": ratio,
                                                       "met": ok}
    return {
        "what": "ms from an invocation's commit in the daemon to its arrival at each subscriber, through "
                "Mosquitto on loopback, vs the same messages from a bare paho publisher (ready, invoking "
                f"and completed of each invocation; models pause {PACE} s)",
        "subscriber_kinds": {"bare": "paho clients at QoS 1, timed in on_message",
                             "display": "display nodes with rendering off (NodeLink: persistent session, "
                                        "QoS 1; NodeState with a 4x4 grid), timed when the node's state "
                                        "accepts the invocation; at 1 and 10 only (50 of them saturate "
                                        "2 cores: see bench/fanout.py)"},
        "sizes": results,
        **goal(met, f"daemon p99 within {GOAL}x of bare at every size"),
    }
