"""MQTT command payloads: strict parsing, clear errors, never any other exception."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from panic_edge.core.payloads import MAX_PAYLOAD_BYTES, Command, parse_command
from panic_edge.core.runner import MAX_PROMPT_CHARS
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


KNOWN = ("start", "stop", "stop-all", "press", "button-network")


@given(name=st.sampled_from([*KNOWN, "x", ""]), payload=st.binary(max_size=300)
       | st.builds(lambda d: json.dumps(d).encode(), st.dictionaries(st.sampled_from(
           ["network", "prompt", "request_id"]), st.text(max_size=20), max_size=3)))
def test_any_bytes_give_a_well_formed_command_or_a_payload_error(name, payload):
    try:
        command = parse_command(name, payload)
    except PayloadError as err:
        assert str(err)  # a message to reply with
        return
    assert name in KNOWN and command.name == name
    body = json.loads(payload) if payload.strip() else {}  # accepted: so it was a JSON object, or nothing
    assert isinstance(body, dict)
    assert command.request_id == body.get("request_id")
    if name in ("stop", "button-network"):
        assert command.network and command.network == body["network"]
    if name in ("start", "press"):  # without a network: the button's
        assert command.network == (body.get("network") or None)
    if name == "stop-all":
        assert command.network is None
    if name == "start":
        assert command.prompt is not None and command.prompt == body["prompt"] and command.prompt.strip()
        assert len(command.prompt) <= MAX_PROMPT_CHARS
    else:
        assert command.prompt is None


def expected_start(body: dict) -> Command | None:
    """What parse_command must make of ``start`` with this JSON object: the rules, written again
    (docs/mqtt.md, Limits). Without a network, a start is for the button's network."""
    strings = all(body.get(k) is None or isinstance(body.get(k), str) for k in ("network", "prompt", "request_id"))
    network, prompt, request_id = body.get("network"), body.get("prompt"), body.get("request_id")
    if not strings or not prompt or not prompt.strip() or len(prompt) > MAX_PROMPT_CHARS:
        return None
    if network is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", network):
        return None
    if request_id is not None and len(request_id) > 128:
        return None
    if re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", prompt) or any(
            0xD800 <= ord(c) <= 0xDFFF for v in (network, prompt, request_id) if v for c in v):
        return None
    return Command("start", network, prompt, request_id)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(body=st.dictionaries(st.sampled_from(["network", "prompt", "request_id", "extra"]),
                            st.one_of(st.none(), st.integers(), st.text(max_size=50), st.lists(st.integers()),
                                      st.just(" "), st.just("x" * (MAX_PROMPT_CHARS + 1)))))
def test_any_json_object_gives_exactly_the_command_the_rules_say(body):
    expected = expected_start(body)
    if expected is None:
        with pytest.raises(PayloadError):
            parse_command("start", json.dumps(body).encode())
    else:
        assert parse_command("start", json.dumps(body).encode()) == expected


def test_topics_live_under_panic_and_the_appliance_id():
    topics = Topics("gallery-1")
    assert topics.availability == "panic/gallery-1/availability"
    assert topics.network_state("demo") == "panic/gallery-1/networks/demo/state"
    assert topics.invocations("demo") == "panic/gallery-1/networks/demo/invocations"
    assert topics.command_name("panic/gallery-1/cmd/stop-all") == "stop-all"
    assert topics.command_name("panic/other/cmd/stop-all") is None
