"""Fuzz the real daemon through a real Mosquitto, on every topic it and a display node subscribe to.

First the payload classes that once stopped the daemon (issue 10: lone surrogates in any field,
JSON nested thousands deep, integers of thousands of digits, NaN and 1e999), aimed at the network
that exists, on every topic. Then hypothesis makes batches of hostile messages (arbitrary bytes,
unicode with lone surrogates, JSON trees deep and with huge numbers, commands to the existing
network with hostile field values), published on the command topics, the node presence and
screenshot topics, the installations, and the topics a node (with a HUD and remote commands)
reads. After each batch the daemon must answer a valid command (its request_id back on
cmd/reply) and an in-process display node (NodeLink feeding the pure NodeState, drawn by the
screen's renderer) must show the invocation that command started. Any error the daemon or the
node logs (a last-resort guard firing) fails the test (tests/conftest.py).
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pygame
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from panic_edge.core.topics import NODE_COMMANDS
from panic_edge.nodes.feed import Single
from panic_edge.nodes.link import NodeLink
from panic_edge.nodes.messages import Shown
from panic_edge.nodes.screen.media import MediaCache
from panic_edge.nodes.screen.render import render
from panic_edge.nodes.screen.text import font
from panic_edge.nodes.view import NodeState
from tests import hostile
from tests.fuzz_client import FuzzClient
from tests.live import ThreadedDaemon

NETWORK = "open"
SUFFIXES = st.one_of(hostile.daemon_suffix, hostile.node_suffix(NETWORK), st.just("nodes/fuzz-node/status"))
MESSAGE = hostile.message(SUFFIXES, NETWORK)
EVERY_TOPIC = ["cmd/start", "cmd/stop", "cmd/stop-all", "cmd/press", "cmd/button-network", "cmd/reply",
               "nodes/fuzz-node/status", "nodes/fuzz-node/availability", "nodes/fuzz-node/screenshot",
               "nodes/fuzz-node/cmd/blank", "nodes/fuzz-node/cmd/screenshot", "installations/hall",
               f"networks/{NETWORK}/state", f"networks/{NETWORK}/invocations", f"networks/{NETWORK}/insight",
               "status", "availability"]


class FuzzNode:
    """A display node on the daemon's loop: NodeLink events into the pure NodeState, its View drawn by the
    screen's own ``render`` (SDL's dummy driver, a small surface) after every event."""

    def __init__(self, live: ThreadedDaemon) -> None:
        self.live = live
        self.state = NodeState(NETWORK, Single(0, 1, True), terminal=True)
        self.runs: set[str] = set()
        self.changed = threading.Condition()
        self.up = threading.Event()
        self.task = asyncio.run_coroutine_threadsafe(self._run(), live.loop)

    async def _run(self) -> None:
        pygame.init()
        pygame.display.set_mode((1, 1))
        self.surface, self.media = pygame.Surface((320, 180)), MediaCache()
        try:
            async with NodeLink.open(self.live.config, kind="display", network=NETWORK, mode="single",
                                     node_id="fuzz-node", backfill=4, replies=True, insight=True,
                                     commands=NODE_COMMANDS) as link:
                self.up.set()
                while True:
                    self._take(await link.events.get())
        finally:
            font.cache_clear()  # fonts die with pygame.font: a cached one would crash the next user
            pygame.quit()

    def _take(self, event: object) -> None:
        now = time.time()
        self.state.apply(event, now)  # type: ignore[arg-type]
        self.state.view(now)
        if isinstance(event, Shown):
            with self.changed:
                self.runs.add(event.run_id)
                self.changed.notify_all()

    def wait_for_run(self, run_id: str, timeout: float = 10.0) -> None:
        with self.changed:
            assert self.changed.wait_for(lambda: run_id in self.runs or self.task.done(), timeout), \
                f"the node never received an invocation of run {run_id}"
        assert not self.task.done(), f"the node stopped: {self.task.exception()!r}"

    def draw(self) -> None:
        """One frame, as the screen's loop draws it (on the node's own thread: the state is not shared)."""
        async def frame() -> None:
            render(self.surface, self.state.view(time.time()), self.media)
        self.live.call(frame)

    def stop(self) -> None:
        self.task.cancel()


@pytest.fixture
def fuzzed(make_config, tmp_path: Path, broker) -> Iterator[tuple[ThreadedDaemon, FuzzNode, FuzzClient]]:
    folder = tmp_path / "networks"
    folder.mkdir()
    (folder / f"{NETWORK}.toml").write_text('name = "Open"\nmodels = ["local-poet"]\n'
                                            'lockout_seconds = 0\nprompts = ["a camel"]\n')
    config = make_config(PANIC_EDGE_NETWORKS_DIR=str(folder), PANIC_EDGE_DEFAULT_NETWORK=NETWORK,
                         PANIC_EDGE_LIMITS_STARTS_PER_MINUTE="0")  # one press per batch, hundreds of them
    live = ThreadedDaemon(config).start()
    node = FuzzNode(live)
    sender = FuzzClient(broker.url, f"panic/{config.appliance_id}")
    try:
        assert node.up.wait(10), "the node did not start"
        yield live, node, sender
    finally:
        sender.close()
        node.stop()
        live.stop()


def check(live: ThreadedDaemon, node: FuzzNode, sender: FuzzClient) -> None:
    """The daemon answers a valid command and the node shows the run it started."""
    reply, _ = sender.command("press", {"network": NETWORK})
    assert reply["ok"], reply
    node.wait_for_run(reply["run_id"])
    node.draw()
    assert live._thread.is_alive(), "the daemon stopped"


def test_the_payloads_that_once_stopped_the_daemon_on_every_topic(fuzzed):
    live, node, sender = fuzzed
    for crasher in hostile.crashers(NETWORK):
        sender.fuzz([(suffix, crasher, False) for suffix in EVERY_TOPIC])
        check(live, node, sender)
    assert sender.command("stop-all", {})[0]["ok"]


def test_the_daemon_and_a_node_survive_every_topic_fuzzed(fuzzed):
    live, node, sender = fuzzed
    switch = sys.getswitchinterval()
    sys.setswitchinterval(0.0005)  # five threads hand messages to each other: hand the GIL over sooner

    @settings(max_examples=300, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(batch=st.lists(MESSAGE, min_size=1, max_size=6))
    def batch_then_check(batch: list[tuple[str, bytes, bool]]) -> None:
        sender.fuzz(batch)
        check(live, node, sender)

    try:
        batch_then_check()
    finally:
        sys.setswitchinterval(switch)
    assert sender.command("stop-all", {})[0]["ok"]
