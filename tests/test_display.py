"""The screen node end to end, headless (SDL's dummy video driver), against a real daemon."""

from __future__ import annotations

import asyncio
import json
import uuid

import pygame
from hypothesis import given, settings
from hypothesis import strategies as st

from panic_edge.nodes.feed import Grid, Single
from panic_edge.nodes.screen.app import DisplayOptions, run_display
from panic_edge.nodes.screen.markdown import blocks
from tests.conftest import start_daemon


def test_markdown_is_rendered_as_styled_blocks_not_split_on_blank_lines():
    parsed = blocks("# Night\n\nA **bold** and *soft* line\nstill the same paragraph.\n\n- one\n- two")
    assert [b.kind for b in parsed] == ["h1", "p", "li", "li"]
    assert parsed[1].text == "A bold and soft line still the same paragraph."
    assert [(r.text, r.bold, r.italic) for r in parsed[1].runs][:4] == [
        ("A ", False, False), ("bold", True, False), (" and ", False, False), ("soft", False, True)]
    assert parsed[2].prefix == "\u2022 "


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=400) | st.sampled_from(["<script>alert(1)</script>", "[x](javascript:alert(1))",
                                                "![a](http://evil/x.png)", "> " * 200 + "deep", "- " * 300]))
def test_the_one_markdown_parser_takes_any_text_and_never_passes_markup_through(text):
    from panic_edge.markdown import to_html

    parsed = blocks(text)
    assert parsed and all(isinstance(b.text, str) for b in parsed)
    html = to_html(text)
    assert "<script" not in html and 'href="javascript' not in html and "<img" not in html


def distinct_colours(path) -> int:
    image = pygame.image.load(str(path))
    w, h = image.get_size()
    return len({tuple(image.get_at((x, y)))[:3] for x in range(0, w, 7) for y in range(0, h, 7)})


async def test_a_grid_display_draws_a_live_network_and_writes_its_screenshot(config, tmp_path):
    daemon = await start_daemon(config)
    shot = tmp_path / "grid.png"
    try:
        run_id = await daemon.engine.start("demo", "a lighthouse in a storm")
        async with asyncio.timeout(15):
            while len(await daemon.engine.store.run_invocations(run_id)) < 6:
                await asyncio.sleep(0.05)
        await run_display(config, DisplayOptions("demo", Grid(2, 2), fullscreen=False, size=(640, 360),
                                                 screenshot=shot, exit_after=3.0,
                                                 node_id=f"test-grid-{uuid.uuid4().hex[:8]}"))
        assert shot.exists() and pygame.image.load(str(shot)).get_size() == (640, 360)
        assert distinct_colours(shot) > 20  # pictures and text, not an empty screen
    finally:
        await daemon.stop()


async def test_the_terminal_starts_a_run_with_the_typed_prompt_and_shows_the_lockout(config, probe, tmp_path):
    daemon = await start_daemon(config)
    node_id = f"test-terminal-{uuid.uuid4().hex[:8]}"
    try:
        await daemon.engine.start("demo", "someone else first")
        display = asyncio.create_task(run_display(config, DisplayOptions(
            "demo", Single(show_invoking=True), terminal=True, fullscreen=False, size=(640, 360),
            screenshot=tmp_path / "t.png", exit_after=4.0, node_id=node_id)))
        await asyncio.to_thread(probe.wait_for, lambda t, b: t.endswith(f"nodes/{node_id}/availability")
                                and b == "online")
        pygame.event.post(pygame.event.Event(pygame.TEXTINPUT, text="a camel"))
        pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_RETURN, mod=0, unicode="\r",
                                             scancode=40))
        start = await asyncio.to_thread(probe.wait_for, lambda t, b: t.endswith("cmd/start"))
        assert start["prompt"] == "a camel" and start["network"] == "demo"
        reply = await asyncio.to_thread(probe.wait_for, lambda t, b: t.endswith("cmd/reply")
                                        and b.get("request_id") == start["request_id"])
        assert not reply["ok"] and reply["retry_after"] > 0
        await display
        assert (tmp_path / "t.png").exists()
        # a clean exit says so (the broker passes it on to the probe in its own time)
        await asyncio.to_thread(probe.wait_for, lambda t, b: t.endswith(f"nodes/{node_id}/availability")
                                and b == "offline")
        assert json.loads(next(p for t, p, _ in probe.messages if t.endswith(f"{node_id}/status")))[
            "mode"].endswith("terminal")
    finally:
        await daemon.stop()
