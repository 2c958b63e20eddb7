"""A process of MQTT subscribers that timestamps every arrival, for the fan-out and loop benchmarks.

    python -m bench.subscribers --url mqtt://127.0.0.1:PORT --topic 'panic/x/#' --kind bare --count 10

It prints ``ready`` once every subscriber holds its subscription, then records
``(subscriber, time.monotonic_ns(), payload)`` for each message (CLOCK_MONOTONIC is one clock for
every process on the machine, so arrivals compare with the publisher's times). A line ``dump`` on
stdin makes it print the arrivals as one JSON line and exit.

Subscriber kinds live in KINDS. Only ``bare`` (a paho client per subscriber) exists now; display
nodes with rendering off are being built on another branch: when they land, add a kind that
starts N of them with rendering off and an arrival hook, and the fan-out benchmark reports it
beside ``bare`` with no other change.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

Arrival = tuple[int, int, bytes]


def start_bare(host: str, port: int, topic: str, count: int, arrivals: list[Arrival]) -> Callable[[], None]:
    """``count`` bare paho subscribers at QoS 1, each on its own network thread; returns a closer."""
    clients = []
    subscribed = threading.Semaphore(0)
    for index in range(count):
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-sub-{index}-{time.monotonic_ns()}")

        def on_message(c: Any, userdata: Any, msg: mqtt.MQTTMessage, index: int = index) -> None:
            arrivals.append((index, time.monotonic_ns(), msg.payload))  # list.append: atomic, no lock

        client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
        client.on_subscribe = lambda *_: subscribed.release()
        client.on_message = on_message
        client.connect(host, port)
        client.loop_start()
        clients.append(client)
    for _ in range(count):
        if not subscribed.acquire(timeout=20):
            raise SystemExit("subscribers: a subscriber could not subscribe within 20 s")

    def close() -> None:
        for client in clients:
            client.disconnect()
            client.loop_stop()

    return close


KINDS: dict[str, Callable[[str, int, str, int, list[Arrival]], Callable[[], None]]] = {"bare": start_bare}


def message_key(payload: bytes) -> str | None:
    """``<id>/<state>`` of an invocation message, ``key`` of a bare bench message, else None."""
    try:
        body = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    if "key" in body:
        return str(body["key"])
    if "id" in body and "state" in body:
        return f"{body['id']}/{body['state']}"
    return None


class SubscriberProcess:
    """The parent's handle on ``python -m bench.subscribers``: started, ready, then dumped once."""

    def __init__(self, url: str, topic: str, kind: str = "bare", count: int = 1, timeout: float = 30) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.subscribers", "--url", url, "--topic", topic, "--kind", kind,
             "--count", str(count)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            cwd=Path(__file__).resolve().parent.parent)
        assert self.process.stdout is not None
        line = _readline(self.process.stdout, timeout)
        if line.strip() != "ready":
            self.close()
            raise RuntimeError(f"subscriber process did not get ready within {timeout} s (said {line!r})")

    def dump(self, timeout: float = 60) -> list[tuple[int, int, str | None]]:
        """Every arrival so far as (subscriber, monotonic ns, key); ends the process."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write("dump\n")
        self.process.stdin.flush()
        line = _readline(self.process.stdout, timeout)
        self.close()
        return [(i, t, k) for i, t, k in json.loads(line)["arrivals"]]

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _readline(stream: IO[str], timeout: float) -> str:
    result: list[str] = []
    reader = threading.Thread(target=lambda: result.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return result[0] if result else ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--kind", choices=sorted(KINDS), default="bare")
    parser.add_argument("--count", type=int, default=1)
    args = parser.parse_args()
    host, port = args.url.removeprefix("mqtt://").rsplit(":", 1)
    arrivals: list[Arrival] = []
    close = KINDS[args.kind](host, int(port), args.topic, args.count, arrivals)
    print("ready", flush=True)
    for line in sys.stdin:
        if line.strip() == "dump":
            break
    snapshot = list(arrivals)
    close()
    print(json.dumps({"arrivals": [[i, t, message_key(p)] for i, t, p in snapshot]}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
