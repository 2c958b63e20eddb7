"""The payloads that once stopped the daemon, sent through a real Mosquitto: each gets an answer,
and the daemon goes on serving (the fuzz suite in test_mqtt_fuzz.py generalises this); and a node
that survives whatever its backfill answer holds."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.mqtt_probe import Probe
from tests.test_daemon import topic, wait_for
from tests.test_hostile_payloads import CRASHERS


@pytest.mark.parametrize("name", ["start", "press"])
async def test_every_crasher_is_answered_and_the_daemon_goes_on(daemon, config, probe, name):
    for payload in CRASHERS.values():
        probe.publish(topic(config, "cmd", name), payload)
        probe.publish(topic(config, "nodes", "node-1", "status"), payload, retain=True)
    request = {"network": "demo", "prompt": "a camel", "request_id": "after"}
    probe.publish(topic(config, "cmd", "start"), json.dumps(request))
    answer = await wait_for(probe, lambda t, b: t.endswith("cmd/reply") and isinstance(b, dict)
                            and b.get("request_id") == "after")
    assert answer["ok"], answer
    refusals = [b for b in probe.bodies(topic(config, "cmd", "reply")) if not b["ok"]]
    assert len(refusals) == len(CRASHERS)
    assert not daemon.task.done()


async def test_a_refusal_echoes_the_request_id_and_says_what_was_wrong(daemon, config, probe):
    probe.publish(topic(config, "cmd", "start"), b'{"network": "demo", "prompt": "\\ud800", "request_id": "r-9"}')
    answer = await wait_for(probe, lambda t, b: t.endswith("cmd/reply") and b.get("request_id") == "r-9")
    assert answer["ok"] is False and '"prompt"' in answer["message"] and "surrogate" in answer["message"]


@pytest.mark.allow_errors
async def test_a_bug_in_a_command_is_logged_answered_and_survived(daemon, config, probe, caplog):
    async def broken(command):  # a stand-in for a bug in some future command's code
        raise ZeroDivisionError("a bug")

    handler = daemon.daemon.handler
    real = handler.handle
    handler.handle = broken
    try:
        probe.publish(topic(config, "cmd", "press"), json.dumps({"request_id": "bug"}))
        answer = await wait_for(probe, lambda t, b: t.endswith("cmd/reply") and b.get("request_id") == "bug")
    finally:
        handler.handle = real
    assert answer["ok"] is False and "internal error" in answer["message"]
    assert any(r.exc_info and r.exc_info[0] is ZeroDivisionError for r in caplog.records)
    probe.publish(topic(config, "cmd", "press"), json.dumps({"request_id": "after"}))
    answer = await wait_for(probe, lambda t, b: t.endswith("cmd/reply") and b.get("request_id") == "after")
    assert answer["ok"]
    await asyncio.sleep(0)


@pytest.mark.parametrize("answer", [b'{"invocations": 5}', b'{"invocations": {"a": 1}}', b"[" * 5000,
                                    b'{"invocations": [1, "x", {"id": "\\ud800"}]}'])
async def test_a_node_survives_a_hostile_backfill_answer(config, probe, answer, caplog):
    from panic_edge.nodes.link import NodeLink
    from panic_edge.nodes.messages import Shown
    from tests.fake_http import FileServer
    from tests.nodes_helpers import encoded

    server = FileServer({"/api/networks/demo/invocations?limit=4": answer})
    probe.publish(topic(config, "status"), json.dumps({"media_base": server.url, "networks": {}}), retain=True)
    try:
        async with NodeLink.open(config, kind="display", network="demo", mode="single", node_id="n1",
                                 backfill=4) as link:
            for _ in range(200):
                if server.requests and any("recent invocations" in r.getMessage() or "malformed" in
                                           r.getMessage() for r in caplog.records):
                    break
                await asyncio.sleep(0.02)
            assert server.requests, "the node never asked for its backfill"
            probe.publish(topic(config, "networks", "demo", "invocations"), encoded(7))
            while True:  # a backfill task that died would have ended the node with it
                event = await asyncio.wait_for(link.events.get(), 10)
                if isinstance(event, Shown) and event.sequence == 7:
                    break
    finally:
        probe.publish(topic(config, "status"), b"", retain=True)
        server.close()


async def test_what_no_node_of_this_appliance_sends_is_cleared_from_the_broker(daemon, config, probe, broker):
    # anyone may invent node ids: their retained junk must not pile up in the broker's memory
    junk = {topic(config, "nodes", "junk-1", "status"): b"{" * 5000,
            topic(config, "nodes", "junk-2", "availability"): b"x" * 100_000,
            topic(config, "nodes", "junk-3", "screenshot"): b"\x89PNG" + b"\0" * 1000,
            topic(config, "nodes", "junk-4", "stash"): b"anything at all"}
    kept = topic(config, "nodes", "lobby", "status")
    probe.publish(kept, json.dumps({"kind": "display", "network": "demo"}), retain=True)
    for where, payload in junk.items():
        probe.publish(where, payload, retain=True)
    for where in junk:  # each is cleared: an empty retained message on its topic
        await wait_for(probe, lambda t, b, where=where: t == where and b == "")
    fresh = Probe(broker.url, f"panic/{config.appliance_id}/nodes/#")
    try:
        retained = await wait_for(fresh, lambda t, b: t == kept)
        assert retained["network"] == "demo"
        assert not [t for t, p, r in fresh.messages if r and t in junk and p]
    finally:
        fresh.close()
