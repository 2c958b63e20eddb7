"""The Screens page in headless Chromium against a real daemon and a real screen node process started
the way its service starts it (`panic-edge display --node lobby`): a live thumbnail, Blank and Wake.

PANIC_EDGE_SCREENSHOTS=1 rewrites docs/screenshots/admin-screens.png."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.admin_fixtures import PASSWORD
from tests.browser_fixtures import CHROMIUM
from tests.live import ThreadedDaemon
from tests.test_admin_browser import DESKTOP, shoot

playwright_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed "
                                "(scripts/setup installs it)")


def start_node(live: ThreadedDaemon, tmp_path: Path) -> subprocess.Popen[str]:
    config = tmp_path / "node.toml"
    config.write_text(f'appliance_id = "{live.config.appliance_id}"\n[mqtt]\nurl = "{live.config.mqtt.url}"\n'
                      '[nodes.lobby]\nkind = "display"\nargs = ["--grid", "2x2", "--windowed", "--size", "640x360"]\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("PANIC_EDGE_")}
    env.update(SDL_VIDEODRIVER="dummy", SDL_AUDIODRIVER="dummy")
    return subprocess.Popen([sys.executable, "-m", "panic_edge", "display", "--config", str(config), "--node", "lobby"],
                            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)


def test_the_screens_page_shows_a_live_thumbnail_and_blanks_and_wakes_a_screen(chromium, live, tmp_path):
    expect = playwright_api.expect
    screens = live.daemon.screens
    live.call(lambda: live.engine.start("demo", "an owl over the harbour"))
    node = start_node(live, tmp_path)
    try:
        live.wait_until(lambda: any(n["node_id"] == "lobby" and n["online"] for n in screens.nodes()), 20)
        live.wait_until(lambda: (live.engine.states["demo"].run is None
                                 or live.engine.states["demo"].run.sequence >= 4), 20)
        page = chromium.new_page(viewport=DESKTOP)
        page.set_default_timeout(15_000)
        errors: list[str] = []
        page.on("pageerror", lambda err: errors.append(str(err)))
        page.goto(f"{live.url}/login?next=/screens")
        page.fill("input[name=password]", PASSWORD)
        page.click("button:has-text('Log in')")
        card = page.locator('.node-card[data-node="lobby"]')
        expect(card.locator('[data-field="online"]')).to_have_text("online")
        expect(card).to_contain_text("display of demo")
        # the page asked for a screenshot when it opened; it arrives over the event stream
        thumb = card.locator(".thumb img")
        expect(thumb).to_be_visible()
        page.wait_for_function("img => img.complete && img.naturalWidth === 320", arg=thumb.element_handle())
        live.call(live.engine.stop_all)
        shoot(page, "admin-screens", full_page=False)

        card.locator("button[data-verb=blank]").click()
        expect(card.locator(".sent")).to_have_text("sent blank")
        live.wait_until(lambda: next(n for n in screens.nodes() if n["node_id"] == "lobby")["showing"] == "blank")
        card.locator("button[data-verb=wake]").click()
        live.wait_until(lambda: next(n for n in screens.nodes() if n["node_id"] == "lobby")["showing"] == "live")
        assert errors == []
        page.close()
    finally:
        node.send_signal(signal.SIGTERM)
        _, err = node.communicate(timeout=15)
    assert node.returncode == 0, err[-2000:]
