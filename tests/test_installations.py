"""Installations: named screens checked by kind, kept in the config or the admin page's file,
published retained, and followed by real nodes over a real Mosquitto when the network is switched."""

from __future__ import annotations

import asyncio
import json
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from panic_edge.config import load_config
from panic_edge.core.installation import check_unique, parse_installation
from panic_edge.errors import ConfigError, PayloadError
from panic_edge.installation_files import installations_toml, load_installations, read_installations
from panic_edge.nodes.board import compose
from panic_edge.nodes.commands import NodeCommand
from panic_edge.nodes.feed import Grid, Single
from panic_edge.nodes.link import NodeLink
from panic_edge.nodes.messages import Assigned, Shown, Unassigned, parse_installation_message
from panic_edge.nodes.screen.app import DisplayOptions, run_display
from panic_edge.nodes.speaker import run_speaker
from panic_edge.nodes.vestaboard import BoardOptions, run_vestaboard
from panic_edge.nodes.view import NodeState
from tests.conftest import start_daemon
from tests.fake_http import FakeVestaboard
from tests.nodes_helpers import message
from tests.test_nodes_delivery import finished, until

GALLERY: dict[str, Any] = {"name": "gallery", "network": "demo", "screens": [
    {"name": "lobby-left", "kind": "single", "stride": 3, "offset": 0, "show_invoking": True},
    {"name": "wall", "kind": "grid", "rows": 2, "cols": 3, "order": "sequence"},
    {"name": "board-1", "kind": "vestaboard", "stride": 2, "offset": 1, "show_prompt": True}]}


# --- the model -------------------------------------------------------------------------------------


def test_the_original_installation_reads_and_each_screen_says_what_it_shows():
    inst = parse_installation(GALLERY)
    assert [s.describe() for s in inst.screens] == [
        "single, offset 0 of stride 3, showing invoking", "grid 2x3 by sequence",
        "vestaboard flagship via local, offset 1 of stride 2, shows the starting prompt"]
    assert [s.command for s in inst.screens] == ["display", "display", "vestaboard"]


@pytest.mark.parametrize("screen, says", [
    ({"name": "w", "kind": "grid", "stride": 2}, "stride is not a setting of a grid screen"),
    ({"name": "w", "kind": "single", "rows": 2}, "rows is not a setting of a single screen"),
    ({"name": "w", "kind": "single", "stride": 2, "offset": 2}, "offset 2 must be less than stride 2"),
    ({"name": "w", "kind": "vestaboard", "board": "huge"}, "board"),
    ({"name": "w", "kind": "television"}, "does not match any of the expected tags"),
    ({"name": "Lobby Left", "kind": "single"}, "lowercase letters, digits and dashes"),
    ({"name": "w", "kind": "grid", "rows": 17}, "rows"),
])
def test_each_screens_settings_are_checked_by_its_kind(screen, says):
    with pytest.raises(ConfigError, match=says):
        parse_installation({"name": "gallery", "network": "demo", "screens": [screen]})


def test_screen_names_are_unique_within_and_across_installations():
    with pytest.raises(ConfigError, match="two screens are named 'w'"):
        parse_installation({"name": "a", "network": "demo", "screens": [{"name": "w", "kind": "single"},
                                                                          {"name": "w", "kind": "grid"}]})
    a = parse_installation({"name": "a", "network": "demo", "screens": [{"name": "w", "kind": "single"}]})
    b = parse_installation({"name": "b", "network": "demo", "screens": [{"name": "w", "kind": "speaker"}]})
    assert check_unique([a, b]) == [("screen 'w' is in both 'a' and 'b'; a screen name must be unique across "
                                     "installations")]


def test_the_config_takes_installations_and_reports_a_bad_one_with_its_key(tmp_path: Path):
    path = tmp_path / "panic-edge.toml"
    path.write_text(installations_toml((parse_installation(GALLERY),)))
    config = load_config(path, {})
    assert config.installations[0].screen("wall").order == "sequence"
    path.write_text('[[installations]]\nname = "g"\nnetwork = "demo"\n[[installations.screens]]\n'
                    'name = "w"\nkind = "grid"\nstride = 2\n')
    with pytest.raises(ConfigError, match=r"installations\.0\.screens\.0\.grid\.stride \(.*\): is not a known key"):
        load_config(path, {})


@settings(max_examples=60, deadline=None)
@given(st.lists(st.fixed_dictionaries({
    "name": st.from_regex(r"[a-z0-9][a-z0-9-]{0,12}", fullmatch=True),
    "kind": st.sampled_from(["single", "grid", "vestaboard", "speaker"]),
}, optional={"qr": st.text(max_size=30), "url": st.text(max_size=30)}), max_size=6,
    unique_by=lambda s: s["name"]))
def test_an_installations_file_reads_back_as_it_was_written(tmp_path_factory, screens):
    for s in screens:  # each kind takes only its own keys
        if s["kind"] not in ("single", "grid"):
            s.pop("qr", None)
        if s["kind"] != "vestaboard":
            s.pop("url", None)
    inst = parse_installation({"name": "gallery", "network": "demo", "screens": screens})
    folder = tmp_path_factory.mktemp("data")
    (folder / "installations.toml").write_text(installations_toml((inst,)))
    assert read_installations(folder / "installations.toml") == (inst,)
    assert load_installations((), folder).installations == (inst,)


def test_a_broken_admin_file_falls_back_to_the_config_and_says_why(tmp_path: Path):
    (tmp_path / "installations.toml").write_text("[[installations]]\nname = 3\n")
    loaded = load_installations((parse_installation(GALLERY),), tmp_path)
    assert loaded.source == "config" and loaded.installations[0].name == "gallery"
    assert "installations.toml" in (loaded.problem or "")


def test_a_node_ignores_settings_a_newer_daemon_added_but_not_broken_ones():
    newer = {**GALLERY, "updated_at": 1.0, "lighting": "dim",
             "screens": [{**GALLERY["screens"][0], "brightness": 3}, {"name": "holo", "kind": "hologram"}]}
    inst = parse_installation_message(json.dumps(newer).encode())
    assert [s.name for s in inst.screens] == ["lobby-left"]
    with pytest.raises(PayloadError, match="offset 5 must be less than stride 3"):
        parse_installation_message(json.dumps({**GALLERY, "screens": [
            {**GALLERY["screens"][0], "offset": 5}]}).encode())


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.binary(max_size=300), st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["name", "network", "screens", "kind", "stride", "offset", "rows", "x"]), inner,
        max_size=5), max_leaves=30).map(lambda v: json.dumps(v).encode())))
def test_any_bytes_on_an_installation_topic_give_an_installation_or_a_payload_error(payload):
    try:
        parse_installation_message(payload)
    except PayloadError:
        pass


def test_a_screen_node_takes_its_network_and_layout_from_the_installation_and_starts_afresh():
    state = NodeState("", Single(), screen="wall")
    assert "waiting for the appliance to describe screen wall" in (state.view(0).problem or "")
    inst = parse_installation(GALLERY)
    wall = inst.screen("wall")
    assert wall is not None
    assert state.apply(Assigned("gallery", "demo", wall), 0)
    assert (state.network, state.selection, state.view(0).problem) == ("demo", Grid(2, 3, "sequence"), None)
    state.apply(Shown(**{k: v for k, v in message(0).items() if k != "meta"}), 0)
    assert len(state.feed) == 1
    state.apply(Assigned("gallery", "night", wall), 0)  # switched: a fresh feed
    assert (state.network, len(state.feed)) == ("night", 0)
    state.apply(Unassigned("wall", "screen wall is no longer in installation gallery"), 0)
    assert state.view(0).problem and not state.view(0).attract


# --- real nodes, a real daemon, a real Mosquitto ------------------------------------------------------


def write_config(tmp_path: Path, board_url: str) -> Path:
    networks = tmp_path / "networks"
    networks.mkdir(exist_ok=True)
    (networks / "night.toml").write_text(
        'name = "Night"\nmodels = ["local-poet", "local-painter", "local-captioner"]\nlockout_seconds = 0\n'
        'prompts = ["a moth at a lamp"]\n')
    screens = [dict(s) for s in GALLERY["screens"]] + [{"name": "corner", "kind": "speaker", "speak_text": True}]
    screens[2].update(url=board_url, min_interval=1.0)
    path = tmp_path / "panic-edge.toml"
    path.write_text(f'networks_dir = "{networks}"\n\n' + installations_toml((
        parse_installation({**GALLERY, "screens": screens}),)))
    return path


class ScreenNode:
    """A screen node without pygame: its link (``--screen NAME``) and its pure state."""

    def __init__(self, link: NodeLink, state: NodeState) -> None:
        self.link, self.state = link, state
        self.task = asyncio.create_task(self._follow())

    async def _follow(self) -> None:
        while True:
            event = await self.link.events.get()
            if not isinstance(event, NodeCommand):  # a screen's command, not a picture
                self.state.apply(event, 0.0)


async def settle(task: asyncio.Task[Any]) -> None:
    """Wait for a cancelled node task to end, whatever it ended with."""
    await asyncio.gather(task, return_exceptions=True)


async def open_screen(stack: AsyncExitStack, config, screen: str) -> ScreenNode:
    link = await stack.enter_async_context(NodeLink.open(
        config, kind="display", network=None, mode=f"screen {screen}", node_id=f"{screen}-{uuid4().hex[:8]}",
        screen=screen, kinds=("single", "grid")))
    node = ScreenNode(link, NodeState("", Single(), screen=screen))
    stack.callback(node.task.cancel)
    return node


def with_file(config, path: Path):
    """The test's config (its broker, appliance id, data dir) read from a config file too."""
    return load_config(path, {
        "PANIC_EDGE_DATA_DIR": str(config.data_dir), "PANIC_EDGE_MQTT_URL": config.mqtt.url,
        "PANIC_EDGE_APPLIANCE_ID": config.appliance_id, "PANIC_EDGE_HTTP_PORT": "0",
        "PANIC_EDGE_LOCAL_MODELS_LATENCY": "0.05", "PANIC_EDGE_BUTTON_PIN_FACTORY": "mock",
        "PANIC_EDGE_KEYBOARD_ENABLED": "false",
        "PANIC_EDGE_BOARDS_UPDATE_SECONDS": "0"})  # the board online would hold each text 8 s (pacing)


@pytest.mark.timeout(90)
async def test_screens_follow_their_installation_when_it_is_switched_to_another_network(config, probe, tmp_path):
    board = FakeVestaboard()
    config = with_file(config, write_config(tmp_path, board.url))
    topic = f"panic/{config.appliance_id}"
    probe.publish(f"{topic}/installations/left-over", b'{"name": "left-over"}', retain=True)
    daemon = await start_daemon(config)
    try:
        # the retained installation goes out; one left from an earlier configuration is cleared
        published = await asyncio.to_thread(probe.wait_for, lambda t, b: t == f"{topic}/installations/gallery")
        assert published["network"] == "demo" and [s["name"] for s in published["screens"]] == [
            "lobby-left", "wall", "board-1", "corner"]
        await asyncio.to_thread(probe.wait_for, lambda t, b: t == f"{topic}/installations/left-over" and b == "")
        async with AsyncExitStack() as stack:
            lobby = await open_screen(stack, config, "lobby-left")
            wall = await open_screen(stack, config, "wall")
            wrong = await open_screen(stack, config, "board-1")  # a display asked to be a board
            vesta = asyncio.create_task(run_vestaboard(config, BoardOptions(""), board.key, screen="board-1"))
            stack.push_async_callback(settle, vesta)
            stack.callback(vesta.cancel)
            speaker = asyncio.create_task(run_speaker(config, None, node_id=f"corner-{uuid4().hex[:8]}",
                                                      screen="corner"))
            stack.push_async_callback(settle, speaker)
            stack.callback(speaker.cancel)
            tv = f"tv-{uuid4().hex[:8]}"  # the real pygame screen node, headless, as `display --screen wall`
            display = asyncio.create_task(run_display(config, DisplayOptions(
                "", Single(), fullscreen=False, size=(320, 180), node_id=tv, screen="wall")))
            stack.push_async_callback(settle, display)
            stack.callback(display.cancel)
            await until(lambda: lobby.link.network == "demo" and wall.state.selection == Grid(2, 3, "sequence"),
                        10, "the screens learning their installation")
            await until(lambda: "panic-edge vestaboard --screen board-1" in (wrong.state.problem or ""), 10,
                        "a display refusing a vestaboard screen")
            status = await asyncio.to_thread(probe.wait_for, lambda t, b: t.endswith("/status") and "/nodes/wall-" in t
                                             and isinstance(b, dict) and b.get("network") == "demo")
            assert (status["screen"], status["installation"], status["mode"]) == ("wall", "gallery",
                                                                                  "grid 2x3 by sequence")

            # the whole installation moves to another network: every screen follows
            daemon.daemon.installations.switch("gallery", "night")
            await until(lambda: lobby.link.network == "night" and wall.state.network == "night", 10,
                        "the screens following the switch")
            await asyncio.to_thread(probe.wait_for, lambda t, b: "/nodes/lobby-left-" in t and t.endswith("/status")
                                    and isinstance(b, dict) and b.get("network") == "night")
            await asyncio.to_thread(probe.wait_for, lambda t, b: t.endswith(f"/nodes/{tv}/status")
                                    and isinstance(b, dict) and b.get("network") == "night")
            await until(lambda: daemon.daemon.presence.counts().get("night") == 5, 10, "presence on night")
            assert daemon.daemon.status()["screens_online"] == ["board-1", "corner", "lobby-left", "wall"]
            run_id = await daemon.engine.start("night", "a moth at a lamp")
            await finished(daemon.engine.store, run_id, 7)
            await daemon.engine.stop("night")
            shown = [i for i in await daemon.engine.store.run_invocations(run_id)
                     if not (i.error or "").startswith("cancelled")]
            slots = [max(i.sequence for i in shown if i.sequence % 6 == slot) for slot in range(6)]
            assert slots[0] == 6  # seq 6 has overwritten seq 0 in slot 0
            await until(lambda: [c and c.id for c in wall.state.view(0).cells] == [f"{run_id}.{n}" for n in slots],
                        10, "the wall by sequence")
            latest = max(i.sequence for i in shown if i.sequence % 3 == 0 and i.state.value == "completed")
            await until(lambda: [c and c.id for c in lobby.state.view(0).cells] == [f"{run_id}.{latest}"], 10,
                        "the lobby (offset 0 of stride 3) on night")
            # the board (stride 2, offset 1) put the night run's starting prompt up
            received = await asyncio.to_thread(board.wait_for, 1)
            assert received[0][1] == compose("a moth at a lamp").as_json()
    finally:
        await daemon.stop()
        board.close()


async def test_an_installation_overwritten_by_another_client_is_put_right(config, probe, tmp_path):
    config = with_file(config, write_config(tmp_path, "http://127.0.0.1:9"))
    topic = f"panic/{config.appliance_id}/installations/gallery"
    daemon = await start_daemon(config)
    try:
        await asyncio.to_thread(probe.wait_for, lambda t, b: t == topic and isinstance(b, dict))
        probe.publish(topic, b'{"name": "gallery", "network": "elsewhere"}', retain=True)

        def put_right() -> bool:
            bodies = probe.bodies(topic)
            foreign = next((n for n, b in enumerate(bodies) if isinstance(b, dict) and b["network"] == "elsewhere"), None)
            return foreign is not None and any(b["network"] == "demo" for b in bodies[foreign + 1:])

        await until(put_right, 10, "the daemon publishing its installation again")
        assert daemon.daemon.installations.get("gallery").network == "demo"
    finally:
        await daemon.stop()


def test_a_screens_settings_come_from_its_installation_so_the_command_line_cannot_repeat_them(capsys):
    from panic_edge.cli import main

    assert main(["display", "--screen", "wall", "--grid", "2x2", "--network", "demo"]) == 2
    assert "drop --network, --grid" in capsys.readouterr().err
    assert main(["vestaboard", "--screen", "board-1", "--stride", "2"]) == 2
    assert "drop --stride" in capsys.readouterr().err
    assert main(["speaker", "--screen", "Corner!"]) == 2
    assert "lowercase letters, digits and dashes" in capsys.readouterr().err
