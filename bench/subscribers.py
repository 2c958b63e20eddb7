"""A process of MQTT subscribers that timestamps every arrival, for the fan-out and loop benchmarks.

    python -m bench.subscribers --url mqtt://127.0.0.1:PORT --topic 'panic/x/#' --kind bare --count 10

It prints ``ready`` once every subscriber holds its subscription, then records
``(subscriber, time.monotonic_ns(), payload)`` for each message (CLOCK_MONOTONIC is one clock for
every process on the machine, so arrivals compare with the publisher's times). A line ``dump`` on
stdin makes it print the arrivals as one JSON line and exit; ``dump N T`` first waits until N
messages have arrived (or T seconds have passed).

Subscriber kinds live in KINDS: ``bare`` (a paho client per subscriber) and ``display`` (the
display nodes' own ``NodeLink`` and ``NodeState`` with rendering off: an arrival is the moment a
node's state accepts the invocation).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
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
            arrivals.append((index, time.monotonic_ns(), bytes(msg.payload)))  # list.append: atomic, no lock

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


def start_display(host: str, port: int, topic: str, count: int, arrivals: list[Arrival]) -> Callable[[], None]:
    """``count`` display nodes with rendering off: each a ``NodeLink`` (its own MQTT client, persistent
    session, QoS 1) feeding a ``NodeState`` with a 4x4 grid, on one event loop in a thread.

    ``topic`` is the invocations topic, ``panic/<appliance>/networks/<network>/invocations``. Ready
    once every node has accepted a probe invocation published on that topic (so every
    subscription is in place) and every node's start-up HTTP backfill is over: a retained
    appliance status points it at a closed port, so it fails at once instead of firing in the
    middle of the measurement (each one builds an httpx client, tens of ms of CPU).
    """
    _, appliance, _, network, _ = topic.split("/")
    logging.getLogger("panic_edge").setLevel(logging.ERROR)  # backfill and probe warnings: expected
    ready, failed = threading.Event(), []
    stop: list[Callable[[], object]] = []

    async def nodes() -> None:
        from panic_edge.config import load_config
        from panic_edge.nodes.commands import NodeCommand
        from panic_edge.nodes.feed import Grid
        from panic_edge.nodes.link import NodeLink
        from panic_edge.nodes.messages import Shown
        from panic_edge.nodes.view import NodeState

        config = load_config(None, {"PANIC_EDGE_MQTT_URL": f"mqtt://{host}:{port}",
                                    "PANIC_EDGE_APPLIANCE_ID": appliance, "PANIC_EDGE_HTTP_PORT": "9"})
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        stop.append(lambda: loop.call_soon_threadsafe(stopping.set))
        probe = f"bench-probe-{time.monotonic_ns()}"
        probed = [asyncio.Event() for _ in range(count)]

        async def follow(index: int, link: NodeLink) -> None:
            state = NodeState(network, Grid(4, 4))
            while True:
                event = await link.events.get()
                if isinstance(event, NodeCommand):
                    continue
                if state.apply(event, time.time()) and isinstance(event, Shown):
                    if event.id == probe:
                        probed[index].set()
                    else:
                        arrivals.append((index, time.monotonic_ns(), f"{event.id}/{event.state}".encode()))

        async with contextlib.AsyncExitStack() as stack, asyncio.TaskGroup() as group:
            links, followers = [], []
            # the media base of every URL the publishers send: nodes drop files from anywhere else
            status = json.dumps({"networks": {}, "media_base": f"http://{host}:9"}).encode()
            for index in range(count):
                link = await stack.enter_async_context(NodeLink.open(
                    config, kind="display", network=network, mode="grid 4x4",
                    node_id=f"bench-display-{os.getpid()}-{probe[12:]}-{index}"))
                links.append(link)
                followers.append(group.create_task(follow(index, link)))
                if index == 0:
                    link.bus.publish(f"panic/{appliance}/status", status, qos=1, retain=True)
            body = json.dumps({"id": probe, "run_id": probe, "network": network, "sequence": 0,
                               "model": "probe", "state": "ready", "output_type": "text",
                               "created_at": 0.0}).encode()
            deadline = time.monotonic() + 20
            while not all(e.is_set() for e in probed) and time.monotonic() < deadline:
                if links[0].bus.connected:
                    links[0].bus.publish(topic, body, qos=1)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.gather(*(e.wait() for e in probed)), 0.5)
            while time.monotonic() < deadline and any(
                    t.get_name().endswith(" backfill") and not t.done() for t in asyncio.all_tasks()):
                await asyncio.sleep(0.05)
            if not all(e.is_set() for e in probed):
                failed.append("display nodes did not all receive the probe within 20 s")
            ready.set()
            await stopping.wait()
            for task in followers:
                task.cancel()  # then the stack closes every link

    def main() -> None:
        try:
            asyncio.run(nodes())
        except Exception as err:  # noqa: BLE001 -- reported to the parent as a start failure
            failed.append(f"display nodes failed: {type(err).__name__}: {err}")
        ready.set()

    thread = threading.Thread(target=main, name="display nodes", daemon=True)
    thread.start()
    if not ready.wait(40) or failed:
        raise SystemExit(f"subscribers: {failed[0] if failed else 'display nodes did not start within 40 s'}")

    def close() -> None:
        if stop:
            stop[0]()
        thread.join(15)

    return close


KINDS: dict[str, Callable[[str, int, str, int, list[Arrival]], Callable[[], None]]] = {
    "bare": start_bare, "display": start_display}


def message_key(payload: bytes) -> str | None:
    """``<id>/<state>`` of an invocation message, ``key`` of a bare bench message, else None."""
    if payload.endswith((b"/ready", b"/invoking", b"/completed", b"/failed")) and not payload.startswith(b"{"):
        return payload.decode()  # already a key: a display node's arrival
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

    def dump(self, timeout: float = 60, expect: int = 0) -> list[tuple[int, int, str | None]]:
        """Every arrival as (subscriber, monotonic ns, key), once ``expect`` of them have arrived
        (or ``timeout`` / 2 seconds have passed: the caller counts what is missing); ends the process."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(f"dump {expect} {timeout / 2}\n")
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
        words = line.split()
        if words and words[0] == "dump":
            expect, patience = (int(words[1]), float(words[2])) if len(words) == 3 else (0, 0.0)
            deadline = time.monotonic() + patience
            while len(arrivals) < expect and time.monotonic() < deadline:
                time.sleep(0.005)  # the arrivals come on paho's threads; this one only counts them
            break
    snapshot = list(arrivals)
    close()
    print(json.dumps({"arrivals": [[i, t, message_key(p)] for i, t, p in snapshot]}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
