"""Fuzz the real daemon through a real Mosquitto, on every topic it and a display node subscribe to.

Hypothesis makes batches of hostile messages (arbitrary bytes, unicode with lone surrogates, JSON
trees deep and with huge numbers, commands with hostile field values), published on the command
topics, the node presence topics and the topics a node reads. After each batch the daemon must
answer a valid command (its request_id back on cmd/reply) and an in-process display node
(NodeLink feeding the pure NodeState, drawn by the screen's renderer) must show the invocation that
command started. Any error
the daemon or the node logs (a last-resort guard firing) fails the test (tests/conftest.py).
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pygame
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from paho.mqtt.enums import CallbackAPIVersion

from panic_edge.bus import no_delay
from panic_edge.nodes.feed import Single
from panic_edge.nodes.link import NodeLink
from panic_edge.nodes.messages import Shown
from panic_edge.nodes.screen.media import MediaCache
from panic_edge.nodes.screen.render import render
from panic_edge.nodes.screen.text import font
from panic_edge.nodes.view import NodeState
from tests import hostile
from tests.live import ThreadedDaemon

NETWORK = "open"
MESSAGE = hostile.message(st.one_of(hostile.daemon_suffix, hostile.node_suffix(NETWORK),
                                   st.just("nodes/fuzz-node/status")))


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
                                     node_id="fuzz-node", backfill=4, replies=True) as link:
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


class Sender:
    """An anonymous client: publishes the fuzz, and sends one real command per batch."""

    def __init__(self, url: str, base: str) -> None:
        host, port = url.removeprefix("mqtt://").split(":")
        self.base = base
        self.replies: dict[str, dict] = {}
        self.answered = threading.Condition()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"fuzz-{uuid.uuid4().hex[:8]}")
        subscribed = threading.Event()
        self.client.on_connect = lambda c, *_: c.subscribe(f"{base}/cmd/reply", qos=1)
        self.client.on_subscribe = lambda *_: subscribed.set()
        self.client.on_message = self._on_message
        self.client.on_socket_open = no_delay
        self.client.connect(host, int(port))
        self.client.loop_start()
        assert subscribed.wait(10)

    def _on_message(self, client: object, userdata: object, msg: mqtt.MQTTMessage) -> None:
        try:
            body = json.loads(msg.payload)
        except (ValueError, RecursionError):  # our own fuzz, echoed on cmd/reply
            return
        if isinstance(body, dict) and isinstance(body.get("request_id"), str):
            with self.answered:
                self.replies[body["request_id"]] = body
                self.answered.notify_all()

    def fuzz(self, messages: list[tuple[str, bytes, bool]]) -> None:
        info = None
        for suffix, payload, retain in messages:
            info = self.client.publish(f"{self.base}/{suffix}", payload, qos=1, retain=retain)
        if info is not None:
            info.wait_for_publish(10)
        assert self.client.is_connected(), "the broker dropped the fuzzing client (a topic it refuses?)"

    def command(self, name: str, body: dict, timeout: float = 10.0) -> dict:
        request_id = uuid.uuid4().hex
        self.client.publish(f"{self.base}/cmd/{name}", json.dumps({**body, "request_id": request_id}), qos=1)
        with self.answered:
            assert self.answered.wait_for(lambda: request_id in self.replies, timeout), \
                f"the daemon did not answer cmd/{name} within {timeout} s"
            return self.replies.pop(request_id)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def fuzzed(make_config, tmp_path: Path, broker) -> Iterator[tuple[ThreadedDaemon, FuzzNode, Sender]]:
    folder = tmp_path / "networks"
    folder.mkdir()
    (folder / f"{NETWORK}.toml").write_text('name = "Open"\nmodels = ["local-poet"]\n'
                                            'lockout_seconds = 0\nprompts = ["a camel"]\n')
    config = make_config(PANIC_EDGE_NETWORKS_DIR=str(folder), PANIC_EDGE_DEFAULT_NETWORK=NETWORK,
                         PANIC_EDGE_LIMITS_STARTS_PER_MINUTE="0")  # one press per batch, hundreds of them
    live = ThreadedDaemon(config).start()
    node = FuzzNode(live)
    sender = Sender(broker.url, f"panic/{config.appliance_id}")
    try:
        assert node.up.wait(10), "the node did not start"
        yield live, node, sender
    finally:
        sender.close()
        node.stop()
        live.stop()


def test_the_daemon_and_a_node_survive_every_topic_fuzzed(fuzzed):
    live, node, sender = fuzzed
    switch = sys.getswitchinterval()
    sys.setswitchinterval(0.0005)  # five threads hand messages to each other: hand the GIL over sooner

    @settings(max_examples=300, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(batch=st.lists(MESSAGE, min_size=1, max_size=6))
    def batch_then_check(batch: list[tuple[str, bytes, bool]]) -> None:
        sender.fuzz(batch)
        reply = sender.command("press", {"network": NETWORK})
        assert reply["ok"], reply
        node.wait_for_run(reply["run_id"])
        node.draw()
        assert live._thread.is_alive(), "the daemon stopped"

    try:
        batch_then_check()
    finally:
        sys.setswitchinterval(switch)
    assert sender.command("stop-all", {})["ok"]
