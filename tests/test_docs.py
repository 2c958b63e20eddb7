"""The docs cannot drift: generated pages are current, and every topic and field is documented."""

from __future__ import annotations

import re
from pathlib import Path

from panic_edge import docgen
from panic_edge.core.insight import HopSteps, Insight, PathPoint, Persistence
from panic_edge.core.invocation import Invocation, InvocationState, invocation_message
from panic_edge.core.media import Content, MediaType
from panic_edge.core.topics import COMMANDS, Topics

REPO = Path(__file__).resolve().parent.parent


def test_generated_pages_are_up_to_date():
    assert docgen.main(["--check"]) == 0, "run `python -m panic_edge.docgen`"


def test_every_topic_and_invocation_field_is_in_the_mqtt_page():
    page = (REPO / "docs" / "mqtt.md").read_text()
    topics = Topics("x")
    names = [topics.availability, topics.status, topics.network_state("<slug>"),
             topics.invocations("<slug>"), topics.cmd_reply, topics.node_availability("<node_id>"),
             topics.node_status("<node_id>")] + [topics.cmd(c) for c in COMMANDS]
    for name in names:
        assert f"`{name.removeprefix('panic/x/')}`" in page, name
    inv = Invocation("i", "r", "n", 0, "m", InvocationState.READY, Content.of_text("x"), MediaType.TEXT)
    for field in invocation_message(inv, "M", "http://h"):
        assert f'"{field}"' in page, field


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
    block = re.search(r"```sh\n(.*?)```", readme, re.S).group(1)  # type: ignore[union-attr]
    assert block.strip().splitlines() == ["./scripts/setup && .venv/bin/panic-edge demo", "./scripts/test"]
    assert "./scripts/test" in (REPO / ".ci" / "run").read_text()
