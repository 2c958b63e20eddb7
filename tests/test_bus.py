"""The MQTT bus against a real Mosquitto: what it promises about delivery."""

from __future__ import annotations

import uuid

from panic_edge.broker import LocalBroker
from panic_edge.bus import MqttBus
from panic_edge.config import load_config
from tests.mqtt_probe import Probe


async def test_a_clean_stop_sends_every_qos1_message_published_before_it(broker: LocalBroker):
    # paho keeps at most 20 QoS 1 messages in flight and queues the rest until acks come back:
    # a stop that disconnects at once would drop the queue (the daemon's last transitions at
    # shutdown; a node's last status). More than the window, published all at once, then stop.
    config = load_config(None, {"PANIC_EDGE_MQTT_URL": broker.url})
    topic = f"test/bus/{uuid.uuid4().hex}"
    probe = Probe(broker.url, topic)
    try:
        bus = MqttBus(config.mqtt, f"test-bus-{uuid.uuid4().hex[:8]}")
        bus.start()
        assert await bus.wait_connected(5)
        for n in range(200):
            bus.publish(topic, str(n).encode(), qos=1)
        await bus.stop()
        probe.wait_for(lambda t, body: t == topic and body == 199, timeout=10)
        assert [int(p) for t, p, _ in probe.messages if t == topic] == list(range(200))
    finally:
        probe.close()


async def test_stop_does_not_wait_for_a_broker_that_is_away():
    # nothing listens on this port: the queued message cannot be sent, and stop returns anyway
    # (the daemon's durable outbox sends it after the restart)
    config = load_config(None, {"PANIC_EDGE_MQTT_URL": "mqtt://127.0.0.1:9"})
    bus = MqttBus(config.mqtt, f"test-bus-{uuid.uuid4().hex[:8]}")
    bus.start()
    bus.publish("test/bus/away", b"x", qos=1)
    await bus.stop()
    assert not bus.connected
