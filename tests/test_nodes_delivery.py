"""Display nodes against a real Mosquitto and a real daemon: selection, late start, restarts, presence."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from contextlib import AsyncExitStack
from uuid import uuid4

import pytest

from panic_edge.broker import LocalBroker, free_port
from panic_edge.nodes.commands import NodeCommand
from panic_edge.nodes.feed import Grid, Single
from panic_edge.nodes.link import NodeLink
from panic_edge.nodes.messages import Shown
from panic_edge.nodes.view import NodeState
from tests.conftest import start_daemon
from tests.nodes_helpers import encoded


class Follower:
    """A node without a screen: its link, its state, and every change it accepted."""

    def __init__(self, link: NodeLink, state: NodeState) -> None:
        self.link, self.state = link, state
        self.accepted: list[tuple[str, str]] = []
        self.task = asyncio.create_task(self._follow())

    async def _follow(self) -> None:
        while True:
            event = await self.link.events.get()
            if isinstance(event, NodeCommand):  # a screen's command, not a picture
                continue
            if self.state.apply(event, 0.0) and isinstance(event, Shown):
                self.accepted.append((event.id, event.state))


async def until(condition: Callable[[], bool], timeout: float = 15.0, what: str = "condition") -> None:
    try:
        async with asyncio.timeout(timeout):
            while not condition():
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"{what} did not hold within {timeout} s") from None


async def open_node(stack: AsyncExitStack, config, selection, node_id: str, network: str = "demo") -> Follower:
    # a fresh id per test: appliance ids of tests can repeat, and a persistent session would too
    link = await stack.enter_async_context(NodeLink.open(
        config, kind="display", network=network, mode=selection.describe(), node_id=f"{node_id}-{uuid4().hex[:8]}",
        backfill=selection.backfill))
    follower = Follower(link, NodeState(network, selection))
    stack.callback(follower.task.cancel)
    return follower


async def finished(store, run_id: str, count: int) -> None:
    async with asyncio.timeout(15):
        while sum(i.state.value == "completed" for i in await store.run_invocations(run_id)) < count:
            await asyncio.sleep(0.02)


def expected_grid(invocations, cells: int) -> list[str]:
    shown = [i for i in invocations if not (i.error or "").startswith("cancelled")]
    shown.sort(key=lambda i: (i.created_at, i.run_id, i.sequence), reverse=True)
    return [i.id for i in shown[:cells]]


async def test_grid_and_single_nodes_select_the_right_invocations_of_a_live_daemon(config):
    daemon = await start_daemon(config)
    try:
        async with AsyncExitStack() as stack:
            grid = await open_node(stack, config, Grid(2, 3), "grid")
            single = await open_node(stack, config, Single(offset=2, stride=5), "single")
            runner = await open_node(stack, config, Single(offset=1, stride=3, show_invoking=True), "live")
            store = daemon.engine.store
            run_id = await daemon.engine.start("demo", "a camel")
            await finished(store, run_id, 13)
            await daemon.engine.stop("demo")
            invocations = await store.run_invocations(run_id)
            want_grid = expected_grid(invocations, 6)
            want_single = [max((i for i in invocations if i.sequence % 5 == 2 and i.state.value == "completed"),
                               key=lambda i: i.sequence).id]
            want_live = [max((i for i in invocations if i.sequence % 3 == 1
                              and not (i.error or "").startswith("cancelled")), key=lambda i: i.sequence).id]

            def cells(f: Follower) -> list[str | None]:
                return [c.id if c else None for c in f.state.view(0).cells]

            await until(lambda: cells(grid) == want_grid, what=f"grid shows {want_grid} (has {cells(grid)})")
            await until(lambda: cells(single) == want_single, what=f"single shows {want_single}")
            await until(lambda: cells(runner) == want_live, what=f"live single shows {want_live}")
            assert all(c.done for c in grid.state.view(0).cells if c)
    finally:
        await daemon.stop()


async def test_a_node_that_starts_late_shows_the_current_picture_at_once(config):
    daemon = await start_daemon(config)
    try:
        run_id = await daemon.engine.start("demo", "before the node")
        await finished(daemon.engine.store, run_id, 9)
        await daemon.engine.stop("demo")
        want = expected_grid(await daemon.engine.store.run_invocations(run_id), 4)
        async with AsyncExitStack() as stack:
            late = await open_node(stack, config, Grid(2, 2), "late")
            await until(lambda: [c.id for c in late.state.view(0).cells if c] == want, 10,
                        "the late node's grid")
            await until(lambda: late.state.view(0).attract, 5, "the idle network's attract screen")
    finally:
        await daemon.stop()


@pytest.mark.timeout(180)
async def test_twenty_nodes_receive_every_invocation_across_a_broker_restart(make_config, tmp_path):
    port = free_port()
    broker = LocalBroker(port=port, persistence_dir=tmp_path / "mosquitto").start()
    config = make_config(PANIC_EDGE_MQTT_URL=broker.url, PANIC_EDGE_LOCAL_MODELS_LATENCY="0.1")
    daemon = await start_daemon(config)
    try:
        async with AsyncExitStack() as stack:
            nodes = [await open_node(stack, config, Grid(4, 4), f"node-{n}") for n in range(20)]
            await until(lambda: all(n.link.bus.connected for n in nodes), 15, "20 nodes connected")
            store = daemon.engine.store
            run_id = await daemon.engine.start("demo", "through the storm")
            await finished(store, run_id, 3)
            broker.stop()  # the broker goes away while the loop keeps running
            await until(lambda: not daemon.daemon.bus.connected, 10, "the daemon noticing")
            before = len(await store.run_invocations(run_id))
            await finished(store, run_id, before + 3)
            broker.start()
            await finished(store, run_id, before + 8)
            await daemon.engine.stop("demo")
            stored = await store.run_invocations(run_id)
            want = {(i.id, i.state.value) for i in stored}
            assert len(want) >= 12

            def missing(node: Follower) -> set[tuple[str, str]]:
                return want - {(i, s) for i, s in node.accepted if s in ("completed", "failed")} - {
                    (i.id, "failed") for i in stored if i.state.value == "failed"}

            try:
                await until(lambda: not any(missing(n) for n in nodes), 30)
            except AssertionError:
                raise AssertionError(f"missing: {[(n.link.node_id, sorted(missing(n))) for n in nodes]}") from None
            for node in nodes:
                assert len(node.accepted) == len(set(node.accepted)), "an invocation state shown twice"
                assert node.link.malformed == 0
    finally:
        await daemon.stop()
        broker.close()


@pytest.mark.parametrize("leaf, payload", [
    ("networks/demo/invocations", b"\xff\xfenot json"), ("networks/demo/invocations", b'{"id": 3}'),
    ("networks/demo/invocations", b"[]"), ("networks/demo/state", b'{"state": "dancing"}'),
    ("availability", b"maybe"), ("status", b"{{{")])
async def test_a_node_survives_malformed_payloads_and_keeps_its_picture(config, probe, leaf, payload):
    base = f"panic/{config.appliance_id}"
    async with AsyncExitStack() as stack:
        node = await open_node(stack, config, Grid(1, 2), "sturdy")
        await until(lambda: node.link.bus.connected, 10, "connected")
        # "connected" may come before the broker has the subscription: publish until it lands
        # (the feed is idempotent, so a repeat is harmless)
        for _ in range(20):
            probe.publish(f"{base}/networks/demo/invocations", encoded(0))
            try:
                await until(lambda: ("r1.0", "completed") in node.accepted, 1, "the first picture")
                break
            except AssertionError:
                continue
        assert ("r1.0", "completed") in node.accepted, "the first picture never arrived"
        probe.publish(f"{base}/{leaf}", payload)
        probe.publish(f"{base}/networks/demo/invocations", encoded(1))
        await until(lambda: ("r1.1", "completed") in node.accepted, 10, "the picture after")
        assert node.link.malformed == 1
        assert [c.id for c in node.state.view(0).cells] == ["r1.1", "r1.0"]
        assert not node.task.done()


async def test_the_daemon_counts_the_nodes_watching_each_network(config, probe):
    daemon = await start_daemon(config)
    status_topic = f"panic/{config.appliance_id}/status"

    def counted(n: int, online: int | None = None) -> Callable[[str, object], bool]:
        return lambda t, b: t == status_topic and isinstance(b, dict) and b["networks"]["demo"]["nodes"] == n \
            and (online is None or b["nodes_online"] == online)

    try:
        async with AsyncExitStack() as stack:
            await open_node(stack, config, Grid(1, 1), "one")
            async with AsyncExitStack() as inner:
                await open_node(inner, config, Single(), "two")
                await open_node(inner, config, Single(), "elsewhere", network="another")
                # the node on another network counts online but not for demo (each node's presence
                # arrives on its own, so wait for the status that has heard all three)
                await asyncio.to_thread(probe.wait_for, counted(2, online=3))
                assert daemon.daemon.status()["nodes_online"] == 3
            await asyncio.to_thread(probe.wait_for, counted(1))
            node_status = json.loads(next(p for t, p, _ in probe.messages if "/nodes/one-" in t and t.endswith("/status")))
            assert (node_status["kind"], node_status["network"], node_status["mode"]) == (
                "display", "demo", "grid 1x1")
    finally:
        await daemon.stop()
