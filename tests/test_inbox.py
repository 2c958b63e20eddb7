"""The inbox: no flood starves a command or exhausts memory (panic_edge/inbox.py), in a daemon
that a real Mosquitto floods."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from panic_edge.bus import Message
from panic_edge.core.topics import Topics
from panic_edge.inbox import Inbox
from panic_edge.quiet import Quiet
from tests.conftest import start_daemon
from tests.mqtt_probe import Probe

T = Topics("gallery")


async def test_only_the_newest_message_of_a_state_topic_waits_at_the_back_of_the_line():
    inbox = Inbox(T.is_state)
    for n in range(5000):
        inbox.put_nowait(Message(T.node_status("lobby"), str(n).encode()))
        inbox.put_nowait(Message(T.node_availability("lobby"), b"online"))
    inbox.put_nowait(Message(T.node_status("wall"), b"w"))
    assert inbox.qsize() == 3 and inbox.replaced == 2 * 5000 - 2
    assert [(await inbox.get()).payload for _ in range(3)] == [b"4999", b"online", b"w"]


async def test_a_state_is_never_handled_before_the_events_sent_ahead_of_it():
    # a board that hears 'open again' must already have heard the invocations before it, and the
    # invocation after it must come after it
    inbox = Inbox(T.is_state)
    inbox.put_nowait(Message(T.network_state("demo"), b"closed"))
    inbox.put_nowait(Message(T.invocations("demo"), b"late"))
    inbox.put_nowait(Message(T.network_state("demo"), b"open"))
    inbox.put_nowait(Message(T.invocations("demo"), b"first of the day"))
    assert [(await inbox.get()).payload for _ in range(3)] == [b"late", b"open", b"first of the day"]


async def test_every_event_waits_in_order_and_the_line_is_bounded():
    inbox = Inbox(T.is_state, max_size=100)
    for n in range(250):
        inbox.put_nowait(Message(T.invocations("demo"), str(n).encode()))
    for n in range(50):
        inbox.put_nowait(Message(T.node_status(f"spoof{n}"), b"{}"))
    assert inbox.qsize() == 100 and inbox.dropped == 200 and inbox.replaced == 0
    firsts = [(await inbox.get()).payload for _ in range(50)]
    assert firsts == [str(n).encode() for n in range(200, 250)]


async def test_big_messages_are_bounded_by_their_bytes_too():
    inbox = Inbox(T.is_state, max_bytes=10 * 2**20)  # 10 MiB
    for n in range(40):  # 40 MiB of 1 MiB messages: only the newest ten fit
        inbox.put_nowait(Message(T.invocations("demo"), bytes([n]) * 2**20))
    assert inbox.qsize() == 10 and inbox.dropped == 30
    inbox.put_nowait(Message(T.node_status("lobby"), b"x" * (2**20)))
    inbox.put_nowait(Message(T.node_status("lobby"), b"y" * (2**20)))  # replaces: frees its older one's bytes
    assert inbox.qsize() == 10 and inbox.replaced == 1 and inbox.dropped == 31
    payloads = [(await inbox.get()).payload[:1] for _ in range(10)]
    assert payloads == [bytes([n]) for n in range(31, 40)] + [b"y"]
    inbox.put_nowait(Message(T.invocations("demo"), b"small"))  # everything handled: the count is back at 0
    assert (await inbox.get()).payload == b"small" and inbox.dropped == 31


def test_what_is_an_event_and_what_is_a_state():
    events = [T.cmd("start"), T.cmd("reply"), T.invocations("demo"), T.node_cmd("lobby", "blank")]
    states = [T.status, T.availability, T.network_state("demo"), T.node_status("lobby"),
              T.node_availability("lobby"), T.node_screenshot("lobby"), T.installation("hall"),
              T.insight("demo"), "homeassistant/status", "panic/other/cmd/start", "panic/gallery"]
    assert all(T.is_event(t) for t in events) and not any(T.is_event(t) for t in states)
    assert all(T.is_state(t) for t in states)


async def test_a_flood_of_node_status_neither_holds_up_a_command_nor_piles_up(config, broker):
    daemon = await start_daemon(config)
    topics = Topics(config.appliance_id)
    assert daemon.daemon.bus is not None
    inbox = daemon.daemon.bus.messages
    handled = daemon.daemon._serve
    stalled = asyncio.Event()

    async def stall_then_serve(message: Message) -> None:  # the node-message line stands still until released
        await stalled.wait()
        await handled(message)

    daemon.daemon._serve = stall_then_serve  # type: ignore[method-assign]
    host, port = broker.url.removeprefix("mqtt://").split(":")
    flooder = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"flood-{uuid.uuid4().hex[:8]}")
    flooder.connect(host, int(port))
    flooder.loop_start()
    probe = Probe(broker.url, topics.cmd_reply)
    flood = 20_000
    try:
        body = json.dumps({"kind": "display", "network": "demo", "pad": "x" * 3000})
        for n in range(flood):  # QoS 0, as fast as paho sends: a phone on the venue Wi-Fi could
            flooder.publish(topics.node_status(f"n{n % 8}"), body, qos=0)
        request = uuid.uuid4().hex
        flooder.publish(topics.cmd("stop-all"), json.dumps({"request_id": request}), qos=1)
        reply = await asyncio.to_thread(probe.wait_for, lambda _, b: isinstance(b, dict)
                                        and b.get("request_id") == request, 60)
        assert reply["ok"] is True
        assert not stalled.is_set()  # answered while not one node message could be handled: its own line

        async def all_read() -> None:  # the whole flood, read while stalled, waits as eight nodes' newest
            while inbox.received < flood:
                await asyncio.sleep(0.05)

        await asyncio.wait_for(all_read(), 60)
        assert inbox.qsize() <= 8 + 2 and inbox.replaced >= flood - 100 and inbox.dropped == 0
        stalled.set()

        async def drained() -> None:
            while inbox.qsize():
                await asyncio.sleep(0.05)

        await asyncio.wait_for(drained(), 60)
        assert inbox.dropped == 0
    finally:
        stalled.set()
        probe.close()
        flooder.loop_stop()
        flooder.disconnect()
        await daemon.stop()


def test_a_kind_of_warning_is_said_at_most_once_a_minute_with_a_count(caplog):
    now = [0.0]
    quiet = Quiet(logging.getLogger("panic_edge.test"), clock=lambda: now[0])
    said = [quiet.warning("status", "bad status from %s", f"n{n}") for n in range(1000)]
    assert said.count(True) == 1 and quiet.warning("other", "another kind is said at once")
    now[0] = 61
    assert quiet.warning("status", "bad status from %s", "n1000")
    lines = [r.getMessage() for r in caplog.records if r.name == "panic_edge.test"]
    assert lines == ["bad status from n0", "another kind is said at once",
                     "bad status from n1000 (999 more like it since the last line)"]
