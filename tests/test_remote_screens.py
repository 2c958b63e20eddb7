"""Remote screens: a real screen node (SDL's dummy driver) takes blank, wake, reload and screenshot
from the daemon's control path over a real Mosquitto; the daemon keeps its thumbnail, bounded.
Also: a display node logs one line per shown invocation, and no HTTP request lines."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import uuid

import pygame
import pytest
from hypothesis import given
from hypothesis import strategies as st

from panic_edge.core.topics import Topics
from panic_edge.daemon.presence import Presence
from panic_edge.daemon.screens import MAX_BYTES, MAX_NODES, Screens, png_size
from panic_edge.errors import CommandError, PayloadError
from panic_edge.nodes.commands import parse_node_command
from panic_edge.nodes.feed import Single
from panic_edge.nodes.screen.app import DisplayOptions, run_display
from panic_edge.nodes.screen.control import thumbnail
from panic_edge.nodes.speaker import run_speaker
from tests.conftest import start_daemon
from tests.mqtt_probe import Probe


def png(width: int, height: int, colour: tuple[int, int, int] = (200, 40, 40)) -> bytes:
    surface = pygame.Surface((width, height))
    surface.fill(colour)
    return thumbnail(surface, box=max(width, height))


@given(st.binary(max_size=600))
def test_any_bytes_are_a_screenshot_or_a_payload_error(payload):
    try:
        width, height = png_size(payload)
    except PayloadError:
        return
    assert 1 <= width <= 640 and 1 <= height <= 640


@given(st.text(max_size=80), st.booleans())
def test_any_verb_is_a_node_command_or_a_payload_error(verb, retained):
    try:
        command = parse_node_command(verb, retained)
    except PayloadError:
        return
    assert command.verb in ("blank", "wake", "reload", "screenshot") and not retained


@given(st.text(max_size=120))
def test_any_topic_parses_to_a_node_topic_or_none(topic):
    topics = Topics("a")
    found = topics.node_topic_leaf(topic)
    assert found is None or (found[0] and found[1] and topic == f"panic/a/nodes/{found[0]}/{found[1]}")


def test_the_daemon_keeps_one_bounded_screenshot_per_node_and_refuses_bad_ones(caplog):
    nodes = [{"node_id": f"n{i}", "online": True, "kind": "speaker", "commands": ["blank", "wake"]}
             for i in range(3)]
    sent: list[tuple[str, bytes]] = []
    screens = Screens(Topics("a"), lambda t, b: sent.append((t, b)), lambda: nodes, clock=lambda: 5.0)
    good = png(320, 180)
    for i in range(MAX_NODES + 6):
        assert screens.put(f"n{i}", good) is not None
    assert screens.get("n0") is None and screens.get(f"n{MAX_NODES + 5}") is not None  # the oldest went
    assert screens.put("n7", png(800, 100)) is None and screens.get("n7").width == 320  # the old one stays
    assert screens.put("n7", b"\x89PNG" + b"x" * MAX_BYTES) is None
    assert screens.put("x" * 500, good) is None
    # a line a minute per node at most: n7's second bad one is counted, not said
    assert sum("ignored a screenshot" in r.getMessage() for r in caplog.records) == 2
    screens.command("n1", "blank")
    assert sent == [("panic/a/nodes/n1/cmd/blank", b"{}")]
    nodes[2]["online"] = False
    for node, verb, why in (("n1", "dance", "unknown node command"), ("zz", "wake", "no node"),
                            ("n2", "wake", "offline"), ("n1", "reload", "does not take")):
        with pytest.raises(CommandError, match=why):
            screens.command(node, verb)


@given(st.dictionaries(st.sampled_from(["mode", "host", "showing", "commands", "kind", "x"]),
                       st.recursive(st.none() | st.booleans() | st.integers(-2**53, 2**53) | st.text(max_size=300),
                                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner,
                                                                                              max_size=4))))
def test_any_node_status_gives_the_admin_page_short_strings_and_known_commands(fields):
    presence = Presence()
    presence.apply("n", "availability", b"online")
    presence.apply("n", "status", json.dumps({**fields, "network": "demo"}).encode())
    kind = fields.get("kind") or "node"
    if not isinstance(kind, str) or len(kind) > 100:  # refused whole (logged): nothing to show
        assert presence.nodes() == []
        return
    (node,) = presence.nodes()
    assert all(isinstance(node[k], str) and len(node[k]) <= 100 for k in ("mode", "host", "showing"))
    assert set(node["commands"]) <= {"blank", "wake", "reload", "screenshot"}


async def test_a_speaker_goes_quiet_on_blank_and_plays_again_on_wake(config, probe):
    daemon = await start_daemon(config)
    node_id = f"test-speaker-{uuid.uuid4().hex[:8]}"
    screens, control = daemon.daemon.screens, daemon.daemon.settings.control
    speaker = asyncio.create_task(run_speaker(config, "demo", node_id=node_id))
    status = f"panic/{config.appliance_id}/nodes/{node_id}/status"
    try:
        async with asyncio.timeout(10):
            while not any(n["node_id"] == node_id and n["online"] for n in screens.nodes()):
                await asyncio.sleep(0.05)
        assert next(n for n in screens.nodes() if n["node_id"] == node_id)["commands"] == ["blank", "wake"]
        with pytest.raises(CommandError, match="does not take 'screenshot'"):
            await asyncio.to_thread(control.node_command, node_id, "screenshot")
        for verb, showing in (("blank", "blank"), ("wake", "live")):
            await asyncio.to_thread(control.node_command, node_id, verb)
            await asyncio.to_thread(probe.wait_for, lambda t, b, s=showing: t == status and isinstance(b, dict)
                                    and b.get("showing") == s)
    finally:
        speaker.cancel()
        await asyncio.gather(speaker, return_exceptions=True)
        await daemon.stop()


def colours(shot: bytes) -> set[tuple[int, ...]]:
    image = pygame.image.load(io.BytesIO(shot), "shot.png")
    w, h = image.get_size()
    return {tuple(image.get_at((x, y)))[:3] for x in range(0, w, 5) for y in range(0, h, 5)}


async def test_a_screen_blanks_wakes_reloads_and_sends_screenshots_when_the_daemon_asks(config, probe, caplog):
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.NOTSET)  # as in a fresh process: the node must quiet them
    daemon = await start_daemon(config)
    node_id = f"test-remote-{uuid.uuid4().hex[:8]}"
    screens, control = daemon.daemon.screens, daemon.daemon.settings.control
    # a retained command is refused (a stale blank must not replay at every start): the screen stays live
    stale = f"panic/{config.appliance_id}/nodes/{node_id}/cmd/blank"
    probe.publish(stale, b"{}", retain=True)
    display = asyncio.create_task(run_display(config, DisplayOptions(
        "demo", Single(), fullscreen=False, size=(640, 360), exit_after=60, node_id=node_id)))
    try:
        run_id = await daemon.engine.start("demo", "a lighthouse in a storm")
        async with asyncio.timeout(20):
            while len([i for i in await daemon.engine.store.run_invocations(run_id) if i.state.value == "completed"]) < 4:
                await asyncio.sleep(0.05)
        await daemon.engine.stop("demo")
        async with asyncio.timeout(10):
            while not any(n["node_id"] == node_id and n["online"] for n in screens.nodes()):
                await asyncio.sleep(0.05)
        listed = next(n for n in screens.nodes() if n["node_id"] == node_id)
        assert listed["commands"] == ["blank", "wake", "reload", "screenshot"] and listed["showing"] == "live"

        async def command_and_shot(verb: str) -> bytes:
            before = screens.get(node_id)
            if verb != "screenshot":  # one shot asked for, never two: a late second one would be taken
                await asyncio.to_thread(control.node_command, node_id, verb)  # for the next command's
            await asyncio.to_thread(control.node_command, node_id, "screenshot")
            async with asyncio.timeout(10):
                while screens.get(node_id) is None or screens.get(node_id) is before:
                    await asyncio.sleep(0.05)
            return screens.get(node_id).png

        shot = await command_and_shot("screenshot")
        assert png_size(shot) == (320, 180) and len(colours(shot)) > 8  # what the screen shows, small
        assert any("retained" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
        probe.publish(stale, b"", retain=True)  # cleared
        shot = await command_and_shot("blank")
        assert colours(shot) == {(0, 0, 0)}
        await asyncio.to_thread(probe.wait_for, lambda t, b: t.endswith(f"nodes/{node_id}/status")
                                and isinstance(b, dict) and b.get("showing") == "blank")
        shot = await command_and_shot("wake")
        assert len(colours(shot)) > 8
        shown = [r.getMessage() for r in caplog.records if r.getMessage().startswith(f"display {node_id}: #")]
        assert shown and len(shown) == len(set(shown))  # one INFO line per shown invocation
        backfills = sum("recent invocations of demo" in r.getMessage() for r in caplog.records)
        await command_and_shot("reload")
        async with asyncio.timeout(10):  # the node fetched the recent invocations again
            while sum("recent invocations of demo" in r.getMessage() for r in caplog.records) == backfills:
                await asyncio.sleep(0.05)
    finally:
        pygame.event.post(pygame.event.Event(pygame.QUIT))  # closes the window: a clean stop
        await asyncio.wait_for(display, 10)
        await daemon.stop()
    # quiet logs: none for the HTTP client's requests (backfills, media)
    assert not [r for r in caplog.records if r.name.startswith(("httpx", "httpcore")) and r.levelno < logging.WARNING]


def test_the_node_api_reads_openly_only_when_public_and_commands_need_an_admin(live, browser, admin):
    screens = live.daemon.screens
    live.daemon.presence.apply("lobby", "availability", b"online")
    live.daemon.presence.apply("lobby", "status", b'{"network": "demo", "kind": "display", "mode": "grid 2x2", '
                               b'"commands": ["blank", "wake", "dance"], "showing": "live", "host": "pi"}')
    screens.put("lobby", png(320, 180))
    anonymous = live.app.test_client()
    assert anonymous.get("/api/nodes").status_code == 401
    assert anonymous.post("/api/nodes/lobby/cmd/blank").status_code == 401
    assert anonymous.get("/api/nodes/lobby/screenshot.png").status_code == 401
    nodes = admin.get("/api/nodes").get_json()["nodes"]
    assert [(n["node_id"], n["online"], n["commands"], n["mode"]) for n in nodes] == [
        ("lobby", True, ["blank", "wake"], "grid 2x2")] and nodes[0]["screenshot_at"] is not None
    shot = admin.get("/api/nodes/lobby/screenshot.png")
    assert shot.mimetype == "image/png" and shot.headers["X-Content-Type-Options"] == "nosniff"
    assert admin.get("/api/nodes/attic/screenshot.png").status_code == 404
    headers = {"X-CSRFToken": admin.token}
    refused = admin.client.post("/api/nodes/lobby/cmd/reload", headers=headers)
    assert refused.status_code == 409 and "does not take 'reload'" in refused.get_json()["error"]
    assert admin.client.post("/api/nodes/lobby/cmd/blank", headers=headers).get_json() == {
        "ok": True, "node_id": "lobby", "command": "blank"}
    assert admin.client.post("/api/nodes/lobby/cmd/blank").status_code == 400  # no CSRF token
    page = admin.get("/screens").get_data(as_text=True)
    assert 'data-node="lobby"' in page and 'data-verb="wake"' in page and "<script>" not in page


async def test_a_screenshot_is_taken_only_from_a_display_node_that_is_online(config, broker):
    """Anyone may invent node ids: their screenshots would push the real screens' out of the list."""
    daemon = await start_daemon(config)
    topics = Topics(config.appliance_id)
    probe = Probe(broker.url, topics.status)
    try:
        probe.publish(topics.node_availability("lobby"), b"online")
        for n in range(MAX_NODES + 1):
            probe.publish(topics.node_screenshot(f"ghost{n}"), png(32, 18))
        probe.publish(topics.node_screenshot("lobby"), png(320, 180))  # after them, in order
        async with asyncio.timeout(10):
            while daemon.daemon.screens.get("lobby") is None:
                await asyncio.sleep(0.02)
        assert all(daemon.daemon.screens.get(f"ghost{n}") is None for n in range(MAX_NODES + 1))
    finally:
        probe.close()
        await daemon.stop()
