"""Every MQTT edge is total: any bytes give a typed value or a PayloadError, never another exception.

The payloads that once stopped the daemon (lone surrogates, JSON nested thousands deep, integers with
thousands of digits) are pinned here one by one, then hypothesis throws everything at every parser.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from panic_edge.core.payloads import encode, parse_command, reply
from panic_edge.daemon.presence import MAX_NODES, Presence
from panic_edge.errors import PayloadError
from panic_edge.nodes import messages
from panic_edge.nodes.feed import Single
from panic_edge.nodes.view import NodeState
from tests import hostile
from tests.nodes_helpers import message

SURROGATE = b'"\\ud800"'
DEEP = b"[" * 5000 + b"]" * 5000
HUGE = b"9" * 5000
CRASHERS = {
    "surrogate request_id": b'{"network": "demo", "prompt": "x", "request_id": ' + SURROGATE + b"}",
    "surrogate prompt": b'{"network": "demo", "prompt": ' + SURROGATE + b"}",
    "surrogate network": b'{"network": ' + SURROGATE + b', "prompt": "x"}',
    "surrogate key": b'{"network": "demo", "prompt": "x", ' + SURROGATE + b": 1}",
    "deep list": DEEP,
    "deep object": b'{"a":' * 3000 + b"1" + b"}" * 3000,
    "deep field": b'{"network": "demo", "prompt": "x", "extra": ' + DEEP + b"}",
    "huge integer": b'{"network": ' + HUGE + b"}",
    "huge integer in a list": b"[" + HUGE + b"]",
    "infinity": b'{"network": "demo", "prompt": "x", "request_id": 1e999}',
    "NaN": b'{"network": NaN}',
}


@pytest.mark.parametrize("name", ["start", "stop", "press", "stop-all"])
@pytest.mark.parametrize("payload", CRASHERS.values(), ids=CRASHERS.keys())
def test_the_payloads_that_once_crashed_the_daemon_are_refused_clearly(name, payload):
    with pytest.raises(PayloadError):
        parse_command(name, payload)


def test_a_refused_command_still_echoes_a_good_request_id():
    with pytest.raises(PayloadError) as caught:
        parse_command("start", b'{"network": "demo", "prompt": "\\ud800", "request_id": "r-7"}')
    assert caught.value.request_id == "r-7"
    assert "prompt" in str(caught.value)


@pytest.mark.parametrize("field, value, words", [
    ("request_id", "x" * 129, "request_id"),
    ("network", "n" * 200, "network"),
    ("prompt", "a\x00b", "control character"),
    ("network", "de\nmo", "network"),
])
def test_hostile_field_values_are_refused(field, value, words):
    body = {"network": "demo", "prompt": "a camel", field: value}
    with pytest.raises(PayloadError, match=words):
        parse_command("start", json.dumps(body).encode())


def test_newlines_and_tabs_in_a_prompt_are_fine():
    assert parse_command("start", json.dumps({"network": "demo", "prompt": "a\n\tb"}).encode()).prompt == "a\n\tb"


@given(st.text(hostile.ANY_CHAR))
def test_a_reply_encodes_whatever_it_echoes(text):
    body = reply("start", text, False, text, extra=[text])
    assert json.loads(body.decode("utf-8"))["ok"] is False
    json.loads(encode({text: text}).decode("utf-8"))


# --- presence: nodes/<id>/availability and nodes/<id>/status ---------------------------------------


@pytest.mark.parametrize("payload", CRASHERS.values(), ids=CRASHERS.keys())
def test_presence_ignores_the_crashers(payload, caplog):
    presence = Presence()
    presence.apply("node-1", "availability", b"online")
    assert presence.apply("node-1", "status", payload) is False
    assert presence.online() == 1 and presence.counts() == {}


def test_presence_refuses_oversized_statuses():
    presence = Presence()
    presence.apply("node-1", "availability", b"online")
    big = json.dumps({"network": "demo", "kind": "display", "pad": "x" * 10_000}).encode()
    assert presence.apply("node-1", "status", big) is False
    assert presence.counts() == {}


@pytest.mark.parametrize("node_id", ["", "a" * 101, "caf\u00e9", "x y", "a.b", "\ud800"])
def test_presence_ignores_node_ids_that_are_not_topic_safe(node_id):
    presence = Presence()
    assert presence.apply(node_id, "availability", b"online") is False
    assert presence.online() == 0


def test_presence_keeps_at_most_max_nodes_evicting_offline_ones_first(caplog):
    presence = Presence()
    for i in range(10):
        presence.apply(f"real-{i}", "availability", b"online")
        presence.apply(f"real-{i}", "status", b'{"network": "demo", "kind": "display"}')
    presence.apply("real-0", "availability", b"offline")
    for i in range(MAX_NODES * 2):  # a flood of spoofed ids, each online once
        presence.apply(f"spoof-{i}", "availability", b"offline")
    assert len(presence) <= MAX_NODES
    assert presence.counts() == {"demo": 9}  # the online ones survived the flood
    assert sum("display nodes" in r.getMessage() for r in caplog.records) == 1  # logged once


def test_presence_refuses_new_nodes_when_full_of_online_ones():
    presence = Presence()
    for i in range(MAX_NODES + 50):
        presence.apply(f"node-{i}", "availability", b"online")
    assert presence.online() == MAX_NODES


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(leaf=st.sampled_from(["availability", "status", "other"]), node_id=st.text(hostile.ANY_CHAR, max_size=120),
       payload=hostile.payload)
def test_presence_takes_any_message(leaf, node_id, payload):
    presence = Presence()
    presence.apply(node_id, leaf, payload)
    presence.counts(), presence.online()


# --- what a display node reads ---------------------------------------------------------------------

PARSERS = [messages.parse_invocation, messages.parse_network_state, messages.parse_availability,
           messages.parse_reply, messages.parse_status]


@pytest.mark.parametrize("parse", PARSERS, ids=lambda p: p.__name__)
@pytest.mark.parametrize("payload", CRASHERS.values(), ids=CRASHERS.keys())
def test_node_parsers_refuse_the_crashers(parse, payload):
    with pytest.raises(PayloadError):
        parse(payload)


@pytest.mark.parametrize("field, value", [
    ("sequence", 10 ** 40), ("created_at", 10 ** 400), ("output", "\ud800"), ("id", "\udfff"),
    ("finished_at", float("nan")),
])
def test_node_parsers_refuse_values_the_node_cannot_use(field, value):
    body = {**message(3), field: value}
    raw = json.dumps(body, allow_nan=True).encode()
    with pytest.raises(PayloadError):
        messages.parse_invocation(raw)


def _node() -> NodeState:
    return NodeState("demo", Single(0, 1, True), terminal=True)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(parse=st.sampled_from(PARSERS), payload=hostile.payload)
def test_a_node_takes_any_message(parse, payload):
    node = _node()
    node.pending_request = "r"
    try:
        event = parse(payload)
    except PayloadError:
        return
    node.apply(event, 1000.0)
    node.view(1000.0)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(fields=st.dictionaries(st.sampled_from(hostile.FIELDS), hostile.json_scalar, max_size=4))
def test_a_node_takes_an_invocation_with_hostile_field_values(fields):
    body = json.dumps(message(1)).encode()[:-1] + b"".join(
        b"," + json.dumps(k).encode() + b":" + v.encode() for k, v in fields.items()) + b"}"
    node = _node()
    try:
        event = messages.parse_invocation(body)
    except PayloadError:
        return
    node.apply(event, 1000.0)
    node.view(1000.0)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(["start", "stop", "stop-all", "press", "reply", ""]), payload=hostile.payload)
def test_any_command_payload_gives_a_command_or_a_payload_error(name, payload):
    try:
        command = parse_command(name, payload)
    except PayloadError as err:
        reply(name, err.request_id, False, str(err))
        return
    reply(name, command.request_id, True, "ok")
