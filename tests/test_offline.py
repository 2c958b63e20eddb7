"""Offline mode: the platforms become unreachable and come back; each network follows its policy.

"The internet" here is a TCP listener on loopback that the connectivity probe dials, and a cloud
platform that answers only while it is up: both real, both switched off and on by the test.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from bench.offline import Internet
from panic_edge.core.catalogue import MODELS, Catalogue
from panic_edge.core.media import MediaType
from panic_edge.core.model import Model
from panic_edge.core.network import Network
from panic_edge.network_files import LoadedNetworks
from panic_edge.platforms.base import Platforms
from panic_edge.platforms.local import LocalPlatform
from tests.conftest import RunningDaemon

CLOUD_POET = Model("cloud-poet", "Cloud Poet", "fakecloud", MediaType.TEXT, MediaType.TEXT, "Adds a line.")
CATALOGUE = Catalogue([*MODELS, CLOUD_POET])


async def start(make_config, internet: Internet, policy: str) -> RunningDaemon:
    from panic_edge.daemon.app import Daemon

    config = make_config(PANIC_EDGE_OFFLINE_PROBE=f"127.0.0.1:{internet.port}",
                         PANIC_EDGE_OFFLINE_PROBE_INTERVAL="0.2", PANIC_EDGE_OFFLINE_OFFLINE_PROBE_INTERVAL="0.2",
                         PANIC_EDGE_OFFLINE_PROBE_TIMEOUT="0.5", PANIC_EDGE_OFFLINE_REPLAY_SECONDS="0.05")
    network = Network("cloudy", "Cloudy", ("cloud-poet",), lockout_seconds=0, offline_policy=policy)
    networks = LoadedNetworks({"cloudy": network}, {})
    platforms = Platforms({"local": LocalPlatform(0), "fakecloud": internet})
    daemon = Daemon(config, networks, catalogue=CATALOGUE, stdin=None, handle_signals=False,
                    platforms=platforms)
    task = asyncio.create_task(daemon.run())
    await asyncio.wait_for(daemon.ready.wait(), 10)
    assert await daemon.bus.wait_connected(5)
    return RunningDaemon(daemon, task)


async def until(condition, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


@pytest.fixture
def internet():
    net = Internet("fakecloud")
    yield net
    if net.sock is not None:
        net.sock.close()


async def test_pause_holds_the_run_while_offline_and_resumes_it_by_itself(make_config, internet):
    running = await start(make_config, internet, "pause")
    engine = running.engine
    try:
        run_id = await engine.start("cloudy", "a camel")
        await until(lambda: engine.states["cloudy"].run.sequence >= 3)
        internet.down()
        await until(lambda: engine.states["cloudy"].run.held)  # how fast: bench/offline.py
        assert running.daemon.status()["internet"] == "offline"
        held = engine.states["cloudy"].run
        calls = internet.calls
        internet.up()
        await until(lambda: internet.calls > calls + 2)
        assert running.daemon.status()["internet"] == "online"
        again = await engine.store.get_invocation(held.invocation_id)
        assert again.state.value == "completed"  # the held step was called again, not skipped
        invocations = await engine.store.run_invocations(run_id)
        assert [i.sequence for i in invocations] == list(range(len(invocations)))
        assert all(i.state.value == "completed" for i in invocations[:-1])
    finally:
        await running.stop()


def probe_for(running: RunningDaemon):
    from tests.mqtt_probe import Probe

    return Probe(running.daemon.config.mqtt.url, f"panic/{running.daemon.config.appliance_id}/#")


async def test_replay_keeps_the_screens_alive_with_labelled_past_outputs(make_config, internet):
    running = await start(make_config, internet, "replay")
    engine = running.engine
    probe = probe_for(running)
    try:
        run_id = await engine.start("cloudy", "a lighthouse")
        await until(lambda: engine.states["cloudy"].run.sequence >= 3)
        internet.down()
        first_replay = engine.states["cloudy"].run.sequence
        await until(lambda: engine.states["cloudy"].run.sequence >= first_replay + 3)
        replays = [i for i in await engine.store.run_invocations(run_id) if "replay" in
                   (i.output.flags if i.output else ())]
        assert len(replays) >= 2 and all(i.meta.get("replay_of") for i in replays)
        message = await asyncio.to_thread(probe.wait_for, lambda t, b: t.endswith("invocations")
                                          and "replay" in b.get("flags", []))
        assert message["state"] == "completed"
        internet.up()
        calls = internet.calls
        await until(lambda: internet.calls > calls)
    finally:
        probe.close()
        await running.stop()


async def test_stop_policy_ends_the_run_and_answers_presses_while_offline(make_config, internet):
    running = await start(make_config, internet, "stop")
    engine = running.engine
    probe = probe_for(running)
    try:
        run_id = await engine.start("cloudy", "a kettle")
        await until(lambda: engine.states["cloudy"].run.sequence >= 1)
        internet.down()
        await until(lambda: engine.states["cloudy"].run is None)
        run = await engine.store.get_run(run_id)
        assert run.end_reason.startswith("stopped: the model platforms are unreachable")
        appliance = running.daemon.config.appliance_id
        probe.publish(f"panic/{appliance}/cmd/press", json.dumps({"network": "cloudy", "request_id": "p"}))
        reply = await asyncio.to_thread(probe.wait_for, lambda t, b: t.endswith("cmd/reply")
                                        and b.get("request_id") == "p")
        assert reply["ok"] is False and "offline" in reply["message"]
        internet.up()
        await until(lambda: running.daemon.status()["internet"] == "online")
        assert (await running.daemon.handler.handle_raw("press", b'{"network": "cloudy"}'))[1].ok
    finally:
        probe.close()
        await running.stop()


async def test_the_network_state_says_offline_and_held(make_config, internet):
    running = await start(make_config, internet, "pause")
    engine = running.engine
    probe = probe_for(running)
    try:
        await engine.start("cloudy", "a fox")
        internet.down()
        state = await asyncio.to_thread(probe.wait_for, lambda t, b: t.endswith("cloudy/state")
                                        and b["online"] is False and b["held"] is True)
        assert state["offline_policy"] == "pause" and state["state"] == "running"
        status = await asyncio.to_thread(probe.wait_for, lambda t, b: t.endswith("/status")
                                         and isinstance(b, dict) and b.get("internet") == "offline")
        assert status["networks"]["cloudy"]["held"] is True
    finally:
        probe.close()
        await running.stop()
