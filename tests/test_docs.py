"""The docs cannot drift: generated pages are current, and every topic and field is documented."""

from __future__ import annotations

import re
from pathlib import Path

from panic_edge import docgen
from panic_edge.core.insight import HopSteps, Insight, PathPoint, Persistence
from panic_edge.core.invocation import Invocation, InvocationState, invocation_message
from panic_edge.core.media import Content, MediaType
from panic_edge.core.topics import COMMANDS, NODE_COMMANDS, Topics

REPO = Path(__file__).resolve().parent.parent


def test_generated_pages_are_up_to_date():
    assert docgen.main(["--check"]) == 0, "run `python -m panic_edge.docgen`"


def test_every_topic_and_invocation_field_is_in_the_mqtt_page():
    page = (REPO / "docs" / "mqtt.md").read_text()
    topics = Topics("x")
    names = [topics.availability, topics.status, topics.network_state("<slug>"),
             topics.invocations("<slug>"), topics.cmd_reply, topics.node_availability("<node_id>"),
             topics.node_status("<node_id>"), topics.installation("<name>"), topics.node_screenshot("<node_id>")] + [
                 topics.cmd(c) for c in COMMANDS] + [topics.node_cmd("<node_id>", v) for v in NODE_COMMANDS]
    for name in names:
        assert f"`{name.removeprefix('panic/x/')}`" in page, name
    inv = Invocation("i", "r", "n", 0, "m", InvocationState.READY, Content.of_text("x"), MediaType.TEXT)
    for field in invocation_message(inv, "M", "http://h"):
        assert f'"{field}"' in page, field
    for field in ("commands", "showing"):  # the node status fields the admin page's Screens read
        assert f'"{field}"' in page, field


def test_home_assistant_mqtt5_and_fleet_topics_and_fields_are_in_the_docs():
    from panic_edge.core.homeassistant import discovery_topic, status_topic

    page = (REPO / "docs" / "mqtt.md").read_text()
    operations = (REPO / "docs" / "operations.md").read_text()
    topics = Topics("x")
    for name in (topics.latest_image("<slug>"), topics.bridge, f"{topics.cmd_reply}/<name>"):
        assert f"`{name.removeprefix('panic/x/')}`" in page, name
    for name in (discovery_topic("<prefix>", "<appliance_id>"), status_topic("<prefix>")):
        assert f"`{name}`" in page, name
    for field in ("button_network", "invocations_per_minute", '"url"', '"invocation_id"', "invocation_expiry",
                  "response topic", "correlation data"):
        assert field in page, field
    for heading in ("## Home Assistant", "## Fleets", "## Commands from a shell: mosquitto_rr"):
        assert heading in operations, heading
    for line in ("panic/<id>/#", "panic/<id>/cmd/+", "GET /api/fleet", "broker-config"):
        assert line in operations, line


def test_the_warmth_fields_of_the_status_are_in_the_mqtt_page():
    from types import SimpleNamespace

    from panic_edge.config import PrewarmConfig
    from panic_edge.core.catalogue import CATALOGUE
    from panic_edge.core.prewarm import Plan
    from panic_edge.daemon.prewarm import Prewarmer
    from panic_edge.platforms.base import Platforms

    page = (REPO / "docs" / "mqtt.md").read_text()
    warmer = Prewarmer(PrewarmConfig(), CATALOGUE, Platforms({}), None, SimpleNamespace(networks={}, states={}))  # type: ignore[arg-type]
    warmer.last, warmer.last_at = Plan("start", (), (), {}), 0.0
    body = warmer.status()
    for field in ["models_warm", "prewarm", *body, *body["last"]]:
        assert f"`{field}`" in page, field


def test_every_installation_and_screen_key_is_in_the_mqtt_page():
    from panic_edge.core.installation import SCREEN_TYPES, Installation

    page = (REPO / "docs" / "mqtt.md").read_text()
    keys = {*Installation.model_fields, "updated_at"} | {k for m in SCREEN_TYPES.values() for k in m.model_fields}
    for key in sorted(keys):
        assert f'"{key}"' in page, key
    for field in ("screens_online", '"screen"', '"installation"'):
        assert field in page, field


def test_the_mqtt_limits_in_the_code_are_the_ones_documented():
    from panic_edge.core.payloads import MAX_PAYLOAD_BYTES, MAX_REQUEST_ID_CHARS
    from panic_edge.core.wire import MAX_DEPTH
    from panic_edge.daemon.presence import MAX_NODES, MAX_STATUS_BYTES
    from panic_edge.nodes.messages import MAX_MESSAGE_BYTES

    limits = (REPO / "docs" / "mqtt.md").read_text().split("## Limits", 1)[1]
    for figure in (f"{MAX_PAYLOAD_BYTES // 1024} KiB", f"{MAX_STATUS_BYTES // 1024} KiB",
                   f"{MAX_MESSAGE_BYTES // 1024} KiB", f"{MAX_DEPTH} levels", f"{MAX_REQUEST_ID_CHARS} characters",
                   f"{MAX_NODES} nodes"):
        assert figure in limits, figure


def test_security_names_every_broker_role_and_file():
    from panic_edge.broker_setup import ROLES

    page = (REPO / "docs" / "security.md").read_text()
    for name in [*(f"`{role}`" for role in ROLES), "`mosquitto.conf`", "`passwd`", "`acl`", "`credentials.toml`",
                 "## Hostile platform outputs", "## Admin page"]:
        assert name in page, name


def test_the_insight_topic_and_every_field_of_its_message_are_in_the_mqtt_page():
    page = (REPO / "docs" / "mqtt.md").read_text()
    assert f"`{Topics('x').insight('<slug>').removeprefix('panic/x/')}`" in page
    sample = Insight("r", "n", 1, "i", "m", "e", 0.5, 0.2, (0.0, 0.0), nearest_sequence=0, nearest_distance=0.1,
                     hops=(HopSteps("m", "M", 0.2, 1),), path=(PathPoint(1, "m", 0.0, 0.0, 0.5),),
                     persistence=Persistence(3, ((0.0, None),), ()))
    body = sample.to_json()
    nested = [*body, *body["nearest"], *body["hops"][0], *body["path"][0], *body["persistence"]]
    for field in nested:
        assert f'"{field}"' in page, field


def test_the_readme_starts_with_the_two_quick_start_commands():
    readme = (REPO / "README.md").read_text()
    assert readme.split("\n## ")[1].startswith("Quick start")
    block = re.search(r"```sh\n(.*?)```", readme, re.S).group(1)
    assert block.strip().splitlines() == ["./scripts/setup && .venv/bin/panic-edge demo", "./scripts/test"]
    assert "./scripts/test" in (REPO / ".ci" / "run").read_text()


def test_the_status_and_network_state_fields_of_a_gallerys_day_are_in_the_mqtt_page():
    page = (REPO / "docs" / "mqtt.md").read_text()
    for field in ("next_invocation_at", "held_reason", "pause", "open", "next_change", "opens_at", "spend",
                  "today_usd", "health", "disk_free_bytes", "archive_bytes", "memory_available_bytes",
                  "cpu_temp_c", "throttled", "load", "warnings", "spend_today_usd", "pacing", "shows_prompt",
                  "day_start", "gate"):
        assert f"`{field}`" in page or f'"{field}"' in page, field
