"""Send a command to a running daemon over MQTT and wait for its reply (the CLI's client)."""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from panic_edge.bus import configure
from panic_edge.config import Config
from panic_edge.core.topics import Topics
from panic_edge.errors import PanicEdgeError


def send_command(config: Config, name: str, body: dict[str, Any], timeout: float = 10.0) -> dict[str, Any]:
    """Publish ``cmd/<name>`` and return the daemon's reply. Raises PanicEdgeError on no answer."""
    topics = Topics(config.appliance_id)
    request_id = uuid.uuid4().hex
    subscribed, answered = threading.Event(), threading.Event()
    reply: dict[str, Any] = {}
    refused: list[str] = []

    def on_connect(client: mqtt.Client, userdata: Any, flags: Any, reason: Any, *_: Any) -> None:
        if getattr(reason, "is_failure", False):
            refused.append(str(reason))
            subscribed.set()
            return
        client.subscribe(topics.cmd_reply, qos=1)

    def on_message(client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            body = json.loads(msg.payload)
        except (ValueError, RecursionError):  # anything on cmd/reply that is not a reply: not ours
            return
        if isinstance(body, dict) and body.get("request_id") == request_id:
            reply.update(body)
            answered.set()

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"panic-edge-cli-{request_id[:8]}")
    configure(client, config.mqtt, "control")
    client.on_connect = on_connect
    client.on_subscribe = lambda *_: subscribed.set()
    client.on_message = on_message
    try:
        client.connect(config.mqtt.host, config.mqtt.port, keepalive=15)
    except OSError as err:
        raise PanicEdgeError(f"cannot reach the MQTT broker at {config.mqtt.url} ({err}); is the "
                             f"daemon's broker running? Set PANIC_EDGE_MQTT_URL to point at it") from None
    client.loop_start()
    try:
        if not subscribed.wait(timeout):
            raise PanicEdgeError(f"the broker at {config.mqtt.url} did not accept a subscription")
        if refused:
            raise PanicEdgeError(f"the broker at {config.mqtt.url} refused the login ({refused[0]}); check [mqtt] "
                                 f"credentials_file (the control role) or username/password")
        payload = json.dumps({**body, "request_id": request_id}).encode()
        client.publish(topics.cmd(name), payload, qos=1)
        if not answered.wait(timeout):
            raise PanicEdgeError(f"no answer from appliance {config.appliance_id!r} within {timeout:.0f} s; "
                                 f"is `panic-edge run` running with the same appliance_id and broker?")
        return reply
    finally:
        client.disconnect()
        client.loop_stop()
