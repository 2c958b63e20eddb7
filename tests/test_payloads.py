"""MQTT command payloads: strict parsing, clear errors, never any other exception."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from panic_edge.core.payloads import MAX_PAYLOAD_BYTES, Command, parse_command
from panic_edge.core.topics import Topics
from panic_edge.errors import PayloadError


def test_a_start_command_parses():
    body = json.dumps({"network": "demo", "prompt": "a camel", "request_id": "r"}).encode()
    assert parse_command("start", body) == Command("start", "demo", "a camel", "r")


def test_press_and_stop_all_need_no_body():
    assert parse_command("press", b"") == Command("press")
    assert parse_command("stop-all", b"") == Command("stop-all")


def test_a_start_without_a_network_is_for_the_button_network_and_button_network_names_one():
    assert parse_command("start", b'{"prompt": "x"}') == Command("start", None, "x")
    assert parse_command("button-network", b'{"network": "demo"}') == Command("button-network", "demo")


@pytest.mark.parametrize("name, payload, message", [
    ("start", b'{"network": "demo"}', 'start needs a non-empty "prompt"'),
    ("button-network", b"{}", 'button-network needs a "network"'),
    ("stop", b"{}", 'stop needs a "network"'),
    ("start", b"[1, 2]", "payload must be a JSON object"),
    ("start", b"{nope", "payload is not JSON"),
    ("start", b"\xff\xfe", "payload is not UTF-8"),
    ("start", b'{"network": 7, "prompt": "x"}', '"network" must be a string, not int'),
    ("launch", b"{}", "unknown command 'launch'"),
])
def test_malformed_commands_say_what_is_wrong(name, payload, message):
    with pytest.raises(PayloadError, match=message):
        parse_command(name, payload)


def test_oversized_payloads_are_refused():
    with pytest.raises(PayloadError, match="limit is"):
        parse_command("start", b" " * (MAX_PAYLOAD_BYTES + 1))


@given(name=st.sampled_from(["start", "stop", "stop-all", "press", "button-network", "x"]),
       payload=st.binary(max_size=300))
def test_any_bytes_give_a_command_or_a_payload_error(name, payload):
    try:
        command = parse_command(name, payload)
    except PayloadError:
        return
    assert command.name == name


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(body=st.dictionaries(st.sampled_from(["network", "prompt", "request_id", "extra"]),
                            st.one_of(st.none(), st.integers(), st.text(max_size=50), st.lists(st.integers()))))
def test_any_json_object_gives_a_command_or_a_payload_error(body):
    try:
        parse_command("start", json.dumps(body).encode())
    except PayloadError:
        pass


def test_topics_live_under_panic_and_the_appliance_id():
    topics = Topics("gallery-1")
    assert topics.availability == "panic/gallery-1/availability"
    assert topics.network_state("demo") == "panic/gallery-1/networks/demo/state"
    assert topics.invocations("demo") == "panic/gallery-1/networks/demo/invocations"
    assert topics.command_name("panic/gallery-1/cmd/stop-all") == "stop-all"
    assert topics.command_name("panic/other/cmd/stop-all") is None
