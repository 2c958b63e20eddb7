"""The client that fuzzes a daemon over MQTT: publishes hostile messages, and sends real commands timed
to their replies. Shared by the fuzz suite (tests/test_mqtt_fuzz.py) and the bench (bench/fuzz.py)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from panic_edge.bus import no_delay


class FuzzClient:
    """Anonymous, on ``url`` (mqtt://host:port); topics are suffixes under ``base`` (panic/<appliance_id>)."""

    def __init__(self, url: str, base: str) -> None:
        host, port = url.removeprefix("mqtt://").split(":")
        self.base = base
        self.replies: dict[str, tuple[dict[str, Any], float]] = {}
        self.answered = threading.Condition()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"fuzz-{uuid.uuid4().hex[:8]}")
        subscribed = threading.Event()
        self.client.on_connect = lambda c, *_: c.subscribe(f"{base}/cmd/reply", qos=1)
        self.client.on_subscribe = lambda *_: subscribed.set()
        self.client.on_message = self._on_message
        self.client.on_socket_open = no_delay
        self.client.connect(host, int(port))
        self.client.loop_start()
        if not subscribed.wait(10):
            raise RuntimeError("the fuzzing client could not subscribe to cmd/reply")

    def _on_message(self, client: object, userdata: object, msg: mqtt.MQTTMessage) -> None:
        now = time.monotonic()
        try:
            body = json.loads(msg.payload)
        except (ValueError, RecursionError):  # our own fuzz, seen on cmd/reply
            return
        if isinstance(body, dict) and isinstance(body.get("request_id"), str):
            with self.answered:
                self.replies[body["request_id"]] = (body, now)
                self.answered.notify_all()

    def fuzz(self, messages: list[tuple[str, bytes, bool]], wait: bool = True) -> None:
        """Publish (suffix, payload, retained) messages at QoS 1; ``wait``: until the broker took the last."""
        info = None
        for suffix, payload, retain in messages:
            info = self.client.publish(f"{self.base}/{suffix}", payload, qos=1, retain=retain)
        if wait and info is not None:
            info.wait_for_publish(10)
        if not self.client.is_connected():
            raise RuntimeError("the broker dropped the fuzzing client (a topic it refuses?)")

    def command(self, name: str, body: dict[str, Any], timeout: float = 10.0) -> tuple[dict[str, Any], float]:
        """Send ``cmd/<name>`` with a fresh request_id; (its reply, seconds from send to reply)."""
        request_id = uuid.uuid4().hex
        sent = time.monotonic()
        self.client.publish(f"{self.base}/cmd/{name}", json.dumps({**body, "request_id": request_id}), qos=1)
        with self.answered:
            if not self.answered.wait_for(lambda: request_id in self.replies, timeout):
                raise AssertionError(f"the daemon did not answer cmd/{name} within {timeout} s")
            reply, at = self.replies.pop(request_id)
        return reply, at - sent

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
