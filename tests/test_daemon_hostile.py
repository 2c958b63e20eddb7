"""The payloads that once stopped the daemon, sent through a real Mosquitto: each gets an answer,
and the daemon goes on serving (the fuzz suite in test_mqtt_fuzz.py generalises this)."""

from __future__ import annotations

import asyncio
import json

import pytest

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
