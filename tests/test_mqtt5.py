"""MQTT 5 where it helps, against a real Mosquitto: request/response (the real ``mosquitto_rr``),
message expiry for a node that is away, and MQTT 3.1.1 clients that keep working."""

from __future__ import annotations

import asyncio
import json
import shutil
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from hypothesis import given
from hypothesis import strategies as st
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from panic_edge.core.request_reply import response_refusal
from panic_edge.core.topics import Topics
from tests.conftest import start_daemon
from tests.mqtt_probe import Probe

MOSQUITTO_RR = shutil.which("mosquitto_rr")


async def wait_for(probe, predicate, timeout=10.0):
    return await asyncio.to_thread(probe.wait_for, predicate, timeout)


@pytest.mark.skipif(MOSQUITTO_RR is None, reason="mosquitto_rr is not installed (apt: mosquitto-clients)")
async def test_mosquitto_rr_is_a_command_line_client(daemon, config, broker):
    base = f"panic/{config.appliance_id}"
    assert MOSQUITTO_RR is not None
    proc = await asyncio.create_subprocess_exec(
        MOSQUITTO_RR, "-h", "127.0.0.1", "-p", str(broker.port), "-t", f"{base}/cmd/press",
        "-e", f"{base}/cmd/reply/rr-test", "-m", '{"network": "demo"}',
        "-D", "PUBLISH", "correlation-data", "req-42", "-F", "%D|%p", "-W", "10",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 0, err
    correlation, _, payload = out.decode().strip().partition("|")
    assert correlation == "req-42"
    reply = json.loads(payload)
    assert reply["ok"] and reply["command"] == "press" and reply["run_id"] == daemon.engine.states["demo"].run.run_id


class V5Client:
    """A bare MQTT 5 requester: publishes with a response topic and correlation data."""

    def __init__(self, url: str, *topics: str) -> None:
        host, port = url.removeprefix("mqtt://").split(":")
        self.got: list[mqtt.MQTTMessage] = []
        self.arrived = threading.Condition()
        subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        def on_connect(client: mqtt.Client, *_: object) -> None:
            for topic in topics:
                client.subscribe(topic, qos=1)

        self.client.on_connect = on_connect
        self.client.on_subscribe = lambda *_: subscribed.set()
        self.client.on_message = self._message
        self.client.connect(host, int(port))
        self.client.loop_start()
        assert subscribed.wait(5)

    def _message(self, client, userdata, msg) -> None:
        with self.arrived:
            self.got.append(msg)
            self.arrived.notify_all()

    def request(self, topic: str, body: dict, response_topic: str, correlation: bytes) -> None:
        props = Properties(PacketTypes.PUBLISH)
        props.ResponseTopic, props.CorrelationData = response_topic, correlation
        self.client.publish(topic, json.dumps(body), qos=1, properties=props).wait_for_publish(5)

    def wait(self, topic: str, timeout: float = 10) -> mqtt.MQTTMessage:
        deadline = time.monotonic() + timeout
        with self.arrived:
            while not any(m.topic == topic for m in self.got):
                assert self.arrived.wait(max(0.0, deadline - time.monotonic())), f"nothing on {topic}"
            return next(m for m in self.got if m.topic == topic)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.mark.allow_errors
async def test_a_response_topic_gets_the_answer_unless_it_would_impersonate_the_appliance(daemon, config, broker,
                                                                                         caplog):
    base = f"panic/{config.appliance_id}"
    client = V5Client(broker.url, "replies/#", f"{base}/cmd/+", f"{base}/cmd/reply")
    try:
        await daemon.engine.start("demo", "keep running")
        await asyncio.to_thread(client.request, f"{base}/cmd/stop", {"network": "nope"}, "replies/me", b"\x00\xffid")
        answer = await asyncio.to_thread(client.wait, "replies/me")
        assert answer.properties.CorrelationData == b"\x00\xffid"
        assert json.loads(answer.payload)["ok"] is False  # answered, whatever the outcome
        # a response topic that is a command of the appliance: answered on cmd/reply only
        await asyncio.to_thread(client.request, f"{base}/cmd/press", {"network": "demo", "request_id": "r2"},
                                f"{base}/cmd/stop-all", b"x")
        await asyncio.to_thread(client.request, f"{base}/cmd/stop", {"network": "nope"}, "replies/marker", b"m")
        await asyncio.to_thread(client.wait, "replies/marker")  # after it: the refused one would have come
        assert not [m for m in client.got if m.topic == f"{base}/cmd/stop-all"]
        assert daemon.engine.states["demo"].run is not None, "the appliance stopped itself on a request's say-so"
        assert any("not on response topic" in r.getMessage() for r in caplog.records)
    finally:
        client.close()


@given(st.text(max_size=80))
def test_any_response_topic_is_judged_without_raising(topic):
    refusal = response_refusal(topic, Topics("g"), ("homeassistant",))
    assert refusal is None or isinstance(refusal, str)
    if refusal is None:
        assert not topic.startswith(("panic/g/cmd/stop", "homeassistant/", "$")) and "#" not in topic


def test_response_topics_that_are_refused():
    topics = Topics("g")
    assert response_refusal("replies/me", topics) is None
    assert response_refusal("panic/g/cmd/reply/me", topics) is None
    for bad in ("", "a/+/b", "a/#", "$SYS/x", "panic/g/cmd/stop-all", "panic/other/cmd/reply/x", "panic",
                "panic/g/networks/demo/invocations", "homeassistant/device/x/config", "x" * 2000):
        assert response_refusal(bad, topics, ("homeassistant",)), bad


async def test_an_mqtt_3_1_1_client_still_commands_and_receives(daemon, config, broker):
    probe = Probe(broker.url, f"panic/{config.appliance_id}/#")
    try:
        assert probe.client._protocol == mqtt.MQTTv311
        base = f"panic/{config.appliance_id}"
        probe.publish(f"{base}/cmd/start", json.dumps({"network": "demo", "prompt": "old client", "request_id": "o"}))
        reply = await wait_for(probe, lambda t, b: t == f"{base}/cmd/reply" and b.get("request_id") == "o")
        assert reply["ok"]
        await wait_for(probe, lambda t, b: t == f"{base}/networks/demo/invocations" and b["state"] == "completed"
                       and b["run_id"] == reply["run_id"])
    finally:
        probe.close()


def node_session(url: str, client_id: str, topic: str) -> tuple[mqtt.Client, list[dict]]:
    """A display node's kind of session: MQTT 3.1.1, persistent, QoS 1."""
    host, port = url.removeprefix("mqtt://").split(":")
    got: list[dict] = []
    subscribed = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
    client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
    client.on_subscribe = lambda *_: subscribed.set()
    client.on_message = lambda c, u, m: got.append(json.loads(m.payload))
    client.connect(host, int(port))
    client.loop_start()
    assert subscribed.wait(5)
    return client, got


async def test_invocations_expire_for_a_node_that_is_away_but_the_recent_ones_wait(make_config, broker, tmp_path: Path):
    networks = tmp_path / "nets"
    networks.mkdir()
    (networks / "loop.toml").write_text('name = "Loop"\nmodels = ["local-poet"]\nlockout_seconds = 0\n')
    cfg = make_config(PANIC_EDGE_MQTT_INVOCATION_EXPIRY="2", PANIC_EDGE_NETWORKS_DIR=str(networks))
    topic = f"panic/{cfg.appliance_id}/networks/loop/invocations"
    running = await start_daemon(cfg)
    probe = Probe(broker.url, topic)
    node_id = f"node-{cfg.appliance_id}"
    try:
        node, _ = await asyncio.to_thread(node_session, broker.url, node_id, topic)
        await asyncio.to_thread(lambda: (node.disconnect(), node.loop_stop()))  # away: the broker queues for it
        old = await running.engine.start("loop", "an hour ago")
        await wait_for(probe, lambda t, b: b["run_id"] == old and b["sequence"] == 2 and b["state"] == "completed")
        await running.engine.stop("loop")
        await asyncio.sleep(3)  # longer than the 2 s expiry: the queued ones are stale now
        running.engine.invocation_expiry = 600
        new = await running.engine.start("loop", "just now")
        await wait_for(probe, lambda t, b: b["run_id"] == new and b["state"] == "completed")
        node, got = await asyncio.to_thread(node_session, broker.url, node_id, topic)  # back
        try:
            deadline = time.monotonic() + 10
            while not any(b["run_id"] == new for b in got):  # queued in order: stale ones would come first
                assert time.monotonic() < deadline, "the node's session lost the recent invocations"
                await asyncio.sleep(0.05)
            assert not [b for b in got if b["run_id"] == old], "stale invocations were replayed"
        finally:
            await asyncio.to_thread(lambda: (node.disconnect(), node.loop_stop()))
    finally:
        probe.close()
        await running.stop()
