"""A bare MQTT subscriber for tests: collects messages and waits on them with a timeout."""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion


class Probe:
    def __init__(self, url: str, *topics: str) -> None:
        host, port = url.removeprefix("mqtt://").split(":")
        self.messages: list[tuple[str, bytes, bool]] = []
        self._new = threading.Condition()
        subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2)
        def on_connect(client: mqtt.Client, *_: object) -> None:
            for topic in topics:
                client.subscribe(topic, qos=1)

        self.client.on_connect = on_connect
        self.client.on_subscribe = lambda *_: subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect(host, int(port))
        self.client.loop_start()
        assert subscribed.wait(5), "probe could not subscribe"

    def _on_message(self, client: Any, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        with self._new:
            self.messages.append((msg.topic, bytes(msg.payload), bool(msg.retain)))
            self._new.notify_all()

    def wait_for(self, predicate: Callable[[str, Any], bool], timeout: float = 10.0, since: int = 0) -> Any:
        """The first message (JSON-decoded where possible) for which predicate(topic, body) holds,
        among those received from the ``since``-th on (``len(probe.messages)`` marks "from now")."""
        deadline = time.monotonic() + timeout
        seen = since
        with self._new:
            while True:
                for topic, payload, _ in self.messages[seen:]:
                    body = decode(payload)
                    if predicate(topic, body):
                        return body
                seen = len(self.messages)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"no matching message within {timeout} s; saw "
                                         f"{[(t, p[:120]) for t, p, _ in self.messages[-10:]]}")
                self._new.wait(remaining)

    def bodies(self, topic: str) -> list[Any]:
        with self._new:
            return [decode(p) for t, p, _ in self.messages if t == topic]

    def publish(self, topic: str, payload: bytes | str, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def decode(payload: bytes) -> Any:
    try:
        return json.loads(payload)
    except (ValueError, RecursionError):  # hostile payloads in the fuzz tests
        return payload.decode("utf-8", "replace")


__all__ = ["Probe", "queue"]
