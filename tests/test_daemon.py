"""The daemon against a real Mosquitto, a real SQLite file and real HTTP on loopback."""

from __future__ import annotations

import asyncio
import json
import threading
import uuid

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from panic_edge.core.catalogue import CATALOGUE
from panic_edge.daemon.app import Daemon
from panic_edge.network_files import DEMO, load_networks
from panic_edge.store import Store
from tests.conftest import start_daemon


def topic(config, *parts: str) -> str:
    return "/".join(["panic", config.appliance_id, *parts])


async def wait_for(probe, predicate, timeout=10.0):
    return await asyncio.to_thread(probe.wait_for, predicate, timeout)


async def test_the_daemon_announces_itself_online_and_every_network_idle(daemon, config, probe):
    await wait_for(probe, lambda t, b: t == topic(config, "availability") and b == "online")
    state = await wait_for(probe, lambda t, b: t == topic(config, "networks", "demo", "state"))
    assert state["state"] == "idle" and state["run_id"] is None


async def test_a_start_command_streams_every_invocation_state_over_mqtt(daemon, config, probe):
    probe.publish(topic(config, "cmd", "start"), json.dumps({"network": "demo", "prompt": "a camel",
                                                             "request_id": "q1"}))
    reply = await wait_for(probe, lambda t, b: t.endswith("cmd/reply") and b.get("request_id") == "q1")
    assert reply["ok"] and reply["run_id"]
    inv_topic = topic(config, "networks", "demo", "invocations")
    # wait until the loop has gone round once: sequence 5 is the poet again
    await wait_for(probe, lambda t, b: t == inv_topic and b["sequence"] == 5 and b["state"] == "completed")
    messages = [b for b in probe.bodies(inv_topic) if b["run_id"] == reply["run_id"]]
    genesis = [m["state"] for m in messages if m["sequence"] == 0]
    assert genesis == ["ready", "invoking", "completed"]
    first = next(m for m in messages if m["sequence"] == 0 and m["state"] == "completed")
    assert (first["model"], first["input"], first["input_type"], first["output_type"]) == (
        "local-poet", "a camel", "text", "text")
    for seq in range(6):
        done = next(m for m in messages if m["sequence"] == seq and m["state"] == "completed")
        assert done["model"] == DEMO.model_at(seq)
        assert done["output_type"] == CATALOGUE[DEMO.model_at(seq)].output.value
        if seq:  # each input is the previous output
            before = next(m for m in messages if m["sequence"] == seq - 1 and m["state"] == "completed")
            assert done["input"] == before["output"]
    state = await wait_for(probe, lambda t, b: t.endswith("demo/state") and b["state"] == "running")
    assert state["run_id"] == reply["run_id"] and state["lockout_until"] > 0


async def test_output_files_are_served_by_the_daemon_with_their_real_type(daemon, config, probe):
    await daemon.engine.start("demo", "a red bicycle")
    image = await wait_for(probe, lambda t, b: isinstance(b, dict) and b.get("output_type") == "image"
                           and b.get("state") == "completed")
    assert image["output"].startswith(f"http://127.0.0.1:{daemon.daemon.http.port}/media/demo/")
    async with httpx.AsyncClient() as client:
        response = await client.get(image["output"])
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.content[:4] == b"\x89PNG"


async def test_a_start_within_the_lockout_is_refused_with_the_seconds_left(daemon, config, probe):
    await daemon.engine.start("demo", "first")
    probe.publish(topic(config, "cmd", "start"), json.dumps({"network": "demo", "prompt": "second",
                                                             "request_id": "q2"}))
    reply = await wait_for(probe, lambda t, b: t.endswith("cmd/reply") and b.get("request_id") == "q2")
    assert not reply["ok"] and "locked" in reply["message"] and 0 < reply["retry_after"] <= 10


async def test_stop_ends_the_run_and_nothing_more_is_invoked(daemon, config, probe):
    run_id = await daemon.engine.start("demo", "stop me")
    inv_topic = topic(config, "networks", "demo", "invocations")
    await wait_for(probe, lambda t, b: t == inv_topic and b["sequence"] == 1)
    probe.publish(topic(config, "cmd", "stop"), json.dumps({"network": "demo", "request_id": "q3"}))
    reply = await wait_for(probe, lambda t, b: t.endswith("cmd/reply") and b.get("request_id") == "q3")
    assert reply["ok"] and reply["message"] == "stopped demo"
    await wait_for(probe, lambda t, b: t.endswith("demo/state") and b["state"] == "idle")
    async with asyncio.timeout(5):
        while daemon.engine._tasks:
            await asyncio.sleep(0.01)
    last = max(b["sequence"] for b in probe.bodies(inv_topic) if b["run_id"] == run_id)
    invocations = await daemon.engine.store.run_invocations(run_id)
    assert max(i.sequence for i in invocations) == last
    assert invocations[-1].state.value == "failed" and invocations[-1].error == "cancelled: stopped"
    run = await daemon.engine.store.get_run(run_id)
    assert run.end_reason == "stopped"


async def test_stop_all_stops_every_running_network(make_config, tmp_path, broker):
    nets = tmp_path / "networks"
    nets.mkdir()
    (nets / "second.toml").write_text('name = "Second"\nmodels = ["local-painter", "local-captioner"]\n')
    config = make_config(PANIC_EDGE_NETWORKS_DIR=str(nets))
    running = await start_daemon(config)
    try:
        await running.engine.start("demo", "one")
        await running.engine.start("second", "two")
        outcome = await running.daemon.handler.handle_raw("stop-all", b"")
        assert outcome[1].ok and set(outcome[1].extra["stopped"]) == {"demo", "second"}
        assert all(s.phase == "idle" for s in running.engine.states.values())
    finally:
        await running.stop()


@pytest.mark.parametrize("name, payload", [("start", b"\xff\x00garbage"), ("start", b'{"network": "nope", "prompt": "x"}'),
                                           ("stop", b"[]"), ("press", b"{"), ("explode", b"{}")])
async def test_malformed_commands_are_answered_with_an_error_and_the_daemon_keeps_going(
        daemon, config, probe, name, payload):
    probe.publish(topic(config, "cmd", name), payload)
    reply = await wait_for(probe, lambda t, b: t.endswith("cmd/reply") and b.get("command") == name)
    assert reply["ok"] is False and reply["message"]
    probe.publish(topic(config, "cmd", "press"), json.dumps({"request_id": "after"}))
    after = await wait_for(probe, lambda t, b: t.endswith("cmd/reply") and b.get("request_id") == "after")
    assert after["ok"]


async def test_a_retained_command_is_ignored_not_replayed_at_every_start(make_config, broker):
    from tests.mqtt_probe import Probe

    config = make_config()
    probe = Probe(broker.url, f"panic/{config.appliance_id}/#")
    stale = topic(config, "cmd", "start")
    probe.publish(stale, json.dumps({"network": "demo", "prompt": "stale", "request_id": "stale"}), retain=True)
    running = await start_daemon(config)
    try:
        probe.publish(topic(config, "cmd", "stop-all"), json.dumps({"request_id": "marker"}))
        await wait_for(probe, lambda t, b: t.endswith("cmd/reply") and b.get("request_id") == "marker")
        replies = [b.get("request_id") for b in probe.bodies(topic(config, "cmd", "reply"))]
        assert "stale" not in replies
        assert running.engine.states["demo"].phase == "idle"
        await wait_for(probe, lambda t, b: t == stale and b == "")  # and cleared at the broker
    finally:
        probe.publish(stale, b"", retain=True)  # clear the retained message
        probe.close()
        await running.stop()


async def test_a_failing_model_ends_the_run_with_the_reason(make_config, tmp_path, monkeypatch, broker):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    nets = tmp_path / "networks"
    nets.mkdir()
    # a cloud model whose platform has no key: the call fails permanently. "The internet" is the
    # test broker's port, so the connectivity probe says online (the real hosts are unreachable
    # here, and an offline appliance would hold the step instead of calling it).
    (nets / "cloudy.toml").write_text('name = "Cloudy"\nmodels = ["gpt-5-chat"]\n')
    running = await start_daemon(make_config(PANIC_EDGE_NETWORKS_DIR=str(nets),
                                             PANIC_EDGE_OFFLINE_PROBE=f"127.0.0.1:{broker.port}"))
    try:
        run_id = await running.engine.start("cloudy", "hello")
        async with asyncio.timeout(5):
            while running.engine.states["cloudy"].run is not None:
                await asyncio.sleep(0.01)
        run = await running.engine.store.get_run(run_id)
        assert run.end_reason.startswith("step 0 (gpt-5-chat) failed: cannot run gpt-5-chat: no openai "
                                         "API key: set $OPENAI_API_KEY")
    finally:
        await running.stop()


async def test_invocations_of_earlier_runs_are_kept_across_a_restart(make_config):
    config = make_config()
    first = await start_daemon(config)
    run_id = await first.engine.start("demo", "remember me")
    async with asyncio.timeout(10):
        while len(await first.engine.store.run_invocations(run_id)) < 4:
            await asyncio.sleep(0.02)
    await first.stop()
    async with Store.open(config.database_path) as store:
        kept = await store.run_invocations(run_id)
        assert len(kept) >= 4
        assert all(i.state.value in ("completed", "failed") for i in kept)
        assert (await store.get_run(run_id)).end_reason == "daemon shutting down"
    second = await start_daemon(config)
    try:
        assert len(await second.engine.store.run_invocations(run_id)) == len(kept)
        await second.engine.start("demo", "and me")
    finally:
        await second.stop()


async def test_the_daemon_runs_when_the_broker_is_away_and_connects_when_it_comes(make_config):
    from panic_edge.broker import LocalBroker, free_port

    port = free_port()
    config = make_config(PANIC_EDGE_MQTT_URL=f"mqtt://127.0.0.1:{port}")
    from panic_edge.daemon.app import Daemon
    from panic_edge.network_files import load_networks

    daemon = Daemon(config, load_networks(None, CATALOGUE), stdin=None, handle_signals=False)
    task = asyncio.create_task(daemon.run())
    await asyncio.wait_for(daemon.ready.wait(), 10)
    assert daemon.engine is not None and not daemon.bus.connected
    run_id = await daemon.engine.start("demo", "no broker yet")
    with LocalBroker(port=port):
        assert await daemon.bus.wait_connected(10)
        from tests.mqtt_probe import Probe

        probe = Probe(f"mqtt://127.0.0.1:{port}", f"panic/{config.appliance_id}/#")
        try:
            await wait_for(probe, lambda t, b: t.endswith("invocations") and b["run_id"] == run_id)
        finally:
            probe.close()
        daemon.stop()
        await asyncio.wait_for(task, 10)


async def test_updates_the_broker_never_acknowledged_are_sent_after_a_restart(make_config):
    """The durable outbox: invocations made while the broker was away reach it after a restart."""
    from panic_edge.broker import LocalBroker, free_port
    from tests.mqtt_probe import Probe

    port = free_port()
    config = make_config(PANIC_EDGE_MQTT_URL=f"mqtt://127.0.0.1:{port}")
    from panic_edge.daemon.app import Daemon
    from panic_edge.network_files import load_networks

    daemon = Daemon(config, load_networks(None, CATALOGUE), stdin=None, handle_signals=False)
    task = asyncio.create_task(daemon.run())
    await asyncio.wait_for(daemon.ready.wait(), 10)
    run_id = await daemon.engine.start("demo", "while the broker sleeps")
    async with asyncio.timeout(10):
        while len(await daemon.engine.store.run_invocations(run_id)) < 4:
            await asyncio.sleep(0.02)
    daemon.stop()
    await asyncio.wait_for(task, 10)  # paho's in-memory queue dies with the process
    async with Store.open(config.database_path) as store:
        made = await store.run_invocations(run_id)
    with LocalBroker(port=port):
        probe = Probe(f"mqtt://127.0.0.1:{port}", f"panic/{config.appliance_id}/networks/demo/invocations")
        try:
            second = await start_daemon(config)
            for inv in made:
                await wait_for(probe, lambda t, b, inv=inv: b["id"] == inv.id and b["state"] == inv.state.value)
            async with asyncio.timeout(5):  # and the broker's acknowledgements are recorded
                while await second.engine.store.unpublished():
                    await second.engine.flush_acknowledged()
                    await asyncio.sleep(0.02)
            await second.stop()
        finally:
            probe.close()


def test_replay_chooses_the_past_output_that_follows_on_from_the_input():
    from panic_edge.core.invocation import Invocation, InvocationState
    from panic_edge.core.media import Content, MediaType
    from panic_edge.daemon.engine import choose_replay

    def past(i: int, text: str) -> Invocation:
        return Invocation(f"r.{i}", "r", "n", i, "m", InvocationState.COMPLETED, Content.of_text(text),
                          MediaType.TEXT, output=Content.of_text(f"out {i}"))

    candidates = [past(3, "a red bicycle"), past(2, "a camel in the desert"), past(1, "camel desert")]
    assert choose_replay(Content.of_text("the camel crossed the desert"), candidates).id == "r.2"
    assert choose_replay(Content.of_text("nothing shared"), candidates).id == "r.3"  # newest on a tie
    assert choose_replay(Content.of_text("x"), []) is None


async def test_a_burst_of_state_changes_inside_the_status_window_sends_no_status_until_it_ends(
        make_config, broker):
    from tests.mqtt_probe import Probe

    config = make_config(PANIC_EDGE_LOCAL_MODELS_LATENCY="0")
    probe = Probe(broker.url, f"panic/{config.appliance_id}/#")
    running = await start_daemon(config)
    async with asyncio.timeout(5):  # the start-up's own trailing status has gone out
        while running.daemon._status_timer is not None:
            await asyncio.sleep(0.02)
    running.daemon.status_interval = 30.0  # the window outlasts the test: nothing inside it may go out
    try:
        status_topic, inv_topic = topic(config, "status"), topic(config, "networks", "demo", "invocations")
        run_id = await running.engine.start("demo", "a burst")
        await wait_for(probe, lambda t, b: t == inv_topic and b["run_id"] == run_id and b["sequence"] == 30)
        await running.engine.stop("demo")
        # in order behind everything the daemon published before it
        await wait_for(probe, lambda t, b: t.endswith("demo/state") and b["state"] == "idle")
        changes = [b for b in probe.bodies(inv_topic) if b["run_id"] == run_id]
        assert len(changes) >= 90  # ready, invoking, completed of 30 invocations: each a state change
        assert not [b for b in probe.bodies(status_topic) if b["networks"]["demo"]["run_id"] is not None]
        before_shutdown = len(probe.messages)
    finally:
        await running.stop()  # the shutdown flush sends the one status the burst was owed
    try:
        final = await asyncio.to_thread(probe.wait_for, lambda t, b: t == status_topic, 10.0, before_shutdown)
        assert final["networks"]["demo"]["state"] == "idle"
    finally:
        probe.close()


async def test_the_last_status_of_a_burst_goes_out_when_its_window_ends(make_config, broker):
    from tests.mqtt_probe import Probe

    config = make_config(PANIC_EDGE_LOCAL_MODELS_LATENCY="0")
    probe = Probe(broker.url, f"panic/{config.appliance_id}/#")
    running = await start_daemon(config)
    try:
        status_topic, inv_topic = topic(config, "status"), topic(config, "networks", "demo", "invocations")
        await wait_for(probe, lambda t, b: t == status_topic)
        run_id = await running.engine.start("demo", "a burst")
        await wait_for(probe, lambda t, b: t == inv_topic and b["run_id"] == run_id and b["sequence"] == 30)
        await running.engine.stop("demo")
        seen_run = []  # the last status goes out after the run's: idle, in a message after one naming the run

        def final(t, b):
            if t == status_topic and b["networks"]["demo"]["run_id"] == run_id:
                seen_run.append(b)
            return bool(seen_run) and t == status_topic and b["networks"]["demo"]["state"] == "idle"

        last = await wait_for(probe, final)
        assert probe.bodies(status_topic)[-1] == last  # nothing stale after the final state
    finally:
        await running.stop()
        probe.close()


async def test_the_retained_status_after_shutdown_is_the_daemons_last_state(make_config, broker):
    from tests.mqtt_probe import Probe

    config = make_config(PANIC_EDGE_LOCAL_MODELS_LATENCY="0")
    running = await start_daemon(config)
    running.daemon.status_interval = 30.0  # the window outlasts the test: only the flush at shutdown can send
    async with asyncio.timeout(5):  # so the last status tells itself from the one sent on connecting
        while running.daemon.status()["uptime"] < 0.5:
            await asyncio.sleep(0.05)
    await running.engine.start("demo", "stopped at once")
    await running.engine.stop("demo")  # state changes inside the status window, then shutdown
    await running.stop()
    final = running.daemon.status()
    probe = Probe(broker.url, topic(config, "status"))  # a late subscriber: gets the retained message
    try:
        retained = await wait_for(probe, lambda t, b: True)
        # the published status also carries each network's visitor link (never in /api/status)
        published = {slug: {k: v for k, v in net.items() if not k.startswith("visit_")}
                     for slug, net in retained["networks"].items()}
        assert retained["uptime"] >= 0.5 and published == final["networks"]
        link = retained["networks"]["demo"]["visit_url"]
        assert link.startswith(f"{running.daemon.media_base}/visit/demo?t=")
    finally:
        probe.close()


async def test_a_command_sent_the_moment_the_daemon_says_online_is_heard(config, broker):
    # the availability is published after the commands subscription, on the same connection: a
    # client that acts on "online" at once (a screen's button, Home Assistant) is never ignored
    host, port = broker.url.removeprefix("mqtt://").split(":")
    base = f"panic/{config.appliance_id}"
    replies: list[dict] = []
    heard = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"eager-{uuid.uuid4().hex[:8]}")

    def on_message(c: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        if msg.topic == f"{base}/availability" and msg.payload == b"online" and not replies:
            c.publish(f"{base}/cmd/press", json.dumps({"request_id": "eager"}), qos=1)
        elif msg.topic == f"{base}/cmd/reply" and b"eager" in msg.payload:
            replies.append(json.loads(msg.payload))
            heard.set()

    client.on_connect = lambda c, *_: c.subscribe([(f"{base}/availability", 1), (f"{base}/cmd/reply", 1)])
    client.on_message = on_message
    client.connect(host, int(port))
    client.loop_start()
    daemon = Daemon(config, load_networks(config.networks_dir, CATALOGUE), stdin=None, handle_signals=False)
    task = asyncio.create_task(daemon.run())
    try:
        assert await asyncio.to_thread(heard.wait, 15), "the command sent on 'online' was never answered"
        assert replies[0]["ok"], replies
    finally:
        client.loop_stop()
        client.disconnect()
        daemon.stop()
        await asyncio.wait_for(task, 15)
