"""End to end in headless Chromium (Debian's /usr/bin/chromium, driven by Playwright; never
`playwright install`) against a real daemon on loopback: log in, build a network with the picker,
start a run, watch an invocation appear live, stop all; visit every page under the Content-Security-
Policy and fail on any violation; can save the screenshots in docs/.

Set PANIC_EDGE_SCREENSHOTS=1 to rewrite docs/screenshots/ (off by default: a test run leaves the tree clean).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.admin_fixtures import PASSWORD, TOKEN
from tests.browser_fixtures import CHROMIUM
from tests.live import ThreadedDaemon

SHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}

playwright_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed "
                                "(scripts/setup installs it)")


# every securitypolicyviolation event of every document, gathered before any page script runs
WATCH_CSP = """window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) =>
  window.__csp.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"} at ${e.sourceFile}:${e.lineNumber}`));"""


def watched(context) -> list[str]:
    """Violations the browser reports, as console messages (every page of ``context`` is watched)."""
    found: list[str] = []
    context.add_init_script(WATCH_CSP)
    context.on("console", lambda msg: found.append(msg.text) if "Content Security Policy" in msg.text else None)
    return found


def violations(page) -> list[str]:
    return list(page.evaluate("window.__csp || []"))


def shoot(page, name: str, full_page: bool = True) -> None:
    """Save a page (or, given a locator, one element of it, whole) as docs/screenshots/<name>.png."""
    if os.environ.get("PANIC_EDGE_SCREENSHOTS", "0") == "1":
        SHOTS.mkdir(parents=True, exist_ok=True)
        if hasattr(page, "page"):  # a locator: the element, however tall
            page.page.wait_for_timeout(1300)
            page.screenshot(path=str(SHOTS / f"{name}.png"))
            return
        page.wait_for_timeout(1300)  # let the highlight on new cards fade
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=full_page)


def test_log_in_build_a_network_start_it_watch_it_live_and_stop_all(chromium, live: ThreadedDaemon,
                                                                     networks_dir: Path):
    expect = playwright_api.expect
    context = chromium.new_context(viewport=DESKTOP)
    csp = watched(context)
    page = context.new_page()
    page.set_default_timeout(10_000)
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))

    # asked for the new-network page: the login lands there
    page.goto(f"{live.url}/networks/new")
    expect(page).to_have_url(f"{live.url}/login?next=/networks/new")
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('Log in')")
    expect(page).to_have_url(f"{live.url}/networks/new")

    # the picker: type, Enter; the input is cleared and keeps the focus, the chain is checked
    page.fill("input[name=slug]", "night-shift")
    page.fill("input[name=name]", "Night shift")
    picker = page.locator("#model-input")
    picker.fill("local-painter")
    picker.press("Enter")
    expect(page.locator("#chain li")).to_have_count(1)
    assert picker.input_value() == "" and picker.evaluate("el => el === document.activeElement")
    expect(page.locator("#chain-problems")).to_contain_text("local-painter outputs image but local-painter takes text")
    expect(page.locator("[data-badge=runnable]")).to_have_text("not runnable")
    picker.fill("Colour Captioner")  # by name works too
    picker.press("Enter")
    picker.fill("local-poet")
    picker.press("Enter")
    expect(page.locator("#chain li")).to_have_count(3)
    expect(page.locator("[data-badge=runnable]")).to_have_text("runnable")
    expect(page.locator("#chain-problems li")).to_have_count(0)
    expect(page.locator("[data-badge=saved]")).to_have_text("unsaved changes")
    shoot(page, "network-editor-desktop")
    page.set_viewport_size(PHONE)
    shoot(page, "network-editor-phone")
    page.set_viewport_size(DESKTOP)

    page.click("#save")
    expect(page).to_have_url(f"{live.url}/networks/night-shift")
    expect(page.locator("[data-badge=saved]")).to_have_text("saved")
    expect(page.locator("[data-badge=runnable]")).to_have_text("runnable")
    assert (networks_dir / "night-shift.toml").is_file()
    assert live.engine.networks["night-shift"].models == ("local-painter", "local-captioner", "local-poet")

    # the dashboard: start a run, see invocations arrive live (no reload), stop all
    page.goto(f"{live.url}/")
    expect(page.locator('[data-status="live"]')).to_have_text("live")
    card = page.locator('.network[data-network="night-shift"]')
    card.locator("input[name=prompt]").fill("an owl over the harbour")
    # the reloaded page fetches the run once when its event stream opens; after that, only the
    # stream can bring new invocations
    with page.expect_response(lambda r: "/api/runs/" in r.url):
        card.locator("button:has-text('Start')").click()
    expect(card.locator('[data-field="state"]')).to_have_text("running")
    run = live.engine.states["night-shift"].run
    run_id = run.run_id
    expect(page.locator(f'#feed .inv[data-id="{run_id}.{run.sequence + 2}"]')).to_be_visible()
    expect(page.locator(f'#feed .inv[data-id="{run_id}.0"] img')).to_be_visible()
    live.wait_until(lambda: live.engine.states["night-shift"].run is None
                    or live.engine.states["night-shift"].run.sequence >= 4)
    page.locator(f'#feed .inv[data-id="{run_id}.3"]').wait_for()
    shoot(page, "dashboard-desktop", full_page=False)
    page.set_viewport_size(PHONE)
    shoot(page, "dashboard-phone", full_page=False)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # nothing spills sideways
    page.click("#stop-all")
    # the state is what matters; the flash may already have been replaced by a live refresh
    expect(page.locator('.network[data-network="night-shift"] [data-field="state"]')).to_have_text("idle")
    assert live.engine.states["night-shift"].phase == "idle"
    assert errors == [] and csp == [] and violations(page) == []
    context.close()


def test_a_waiting_timer_counts_on_a_pending_invocation(chromium, make_config, admin_env):
    slow = ThreadedDaemon(make_config(**admin_env, PANIC_EDGE_LOCAL_MODELS_LATENCY="30")).start()
    try:
        page = chromium.new_page(viewport=PHONE)
        page.goto(f"{slow.url}/login?next=/")
        page.fill("input[name=password]", PASSWORD)
        page.click("button:has-text('Log in')")
        page.locator('[data-status="live"]:has-text("live")').wait_for()
        run_id = slow.call(lambda: slow.engine.start("demo", "take your time"))
        timer = page.locator(f'.inv[data-id="{run_id}.0"] .timer')
        playwright_api.expect(timer).to_contain_text("waiting 1 s", timeout=5000)
        playwright_api.expect(timer).to_contain_text("usually ~0.5 s")
        slow.call(slow.engine.stop_all)
        page.close()
    finally:
        slow.stop()


def test_build_an_installation_reorder_its_screens_switch_it_and_open_a_screens_short_url(chromium, live):
    expect = playwright_api.expect
    page = chromium.new_page(viewport=DESKTOP)
    page.set_default_timeout(10_000)
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.goto(f"{live.url}/login?next=/installations/new")
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('Log in')")
    page.fill("input[name=name]", "gallery")
    for _ in range(3):
        page.click("#add-screen")
    screens = page.locator("#screens .screen")
    expect(screens).to_have_count(3)
    first, second, third = screens.nth(0), screens.nth(1), screens.nth(2)
    first.locator("input[name$=-name]").fill("lobby-left")
    first.locator("input[name$=-stride]").fill("3")
    first.locator("input[name$=-show_invoking]").check()
    second.locator("input[name$=-name]").fill("wall")
    second.locator("select[name$=-kind]").select_option("grid")  # the grid's own settings appear
    expect(second.locator("input[name$=-stride]")).to_be_hidden()
    expect(second.locator("input[name$=-show_prompt]")).to_be_hidden()
    second.locator("input[name$=-cols]").fill("3")
    second.locator("select[name$=-order]").select_option("sequence")
    third.locator("input[name$=-name]").fill("board-1")
    third.locator("select[name$=-kind]").select_option("vestaboard")
    third.locator("input[name$=-stride]").fill("2")
    third.locator("input[name$=-offset]").fill("1")
    third.locator("input[name$=-show_prompt]").check()
    second.locator("button[data-act=up]").click()  # the wall first
    expect(screens.nth(0).locator("input[name$=-name]")).to_have_value("wall")
    shoot(page, "installation-editor-desktop")
    page.click("#save")
    expect(page).to_have_url(f"{live.url}/installations/gallery")
    assert [s.name for s in live.daemon.installations.get("gallery").screens] == ["wall", "lobby-left", "board-1"]

    screens.nth(2).locator("button[data-act=remove]").click()
    page.click("#save")
    expect(page.locator("#screens .screen")).to_have_count(2)
    page.goto(f"{live.url}/installations")
    expect(page.locator("table.screens tbody tr")).to_have_count(2)
    shoot(page, "installations-desktop")

    page.goto(f"{live.url}/s/wall")  # what a TV opens: the wall, drawn as a screen node would
    run_id = live.call(lambda: live.engine.start("demo", "a lighthouse in a storm"))
    expect(page.locator("#cells .cell img").first).to_be_visible()
    expect(page.locator("#cells .caption").first).to_contain_text("#")
    live.wait_until(lambda: live.engine.states["demo"].run.sequence >= 7)
    page.set_viewport_size({"width": 1280, "height": 720})
    shoot(page, "short-url-wall", full_page=False)
    live.call(lambda: live.engine.stop("demo"))
    assert run_id and errors == []
    page.close()


PAGES = ["/", "/networks", "/networks/tour", "/networks/new", "/run", "/history", "/models", "/models?used=1",
         "/spend", "/backups", "/networks/no-such-network", "/installations", "/installations/new"]


def test_every_page_works_under_the_content_security_policy(chromium, live: ThreadedDaemon):
    """Every page, with pictures and sounds from a real run, the live feed and a confirmed form:
    no violation reported, and everything still works."""
    client, auth = live.app.test_client(), {"Authorization": f"Bearer {TOKEN}"}
    tour = {"name": "Tour", "models": ["local-painter", "local-captioner", "local-voice", "local-listener"]}
    assert client.put("/api/networks/tour", json=tour, headers=auth).get_json()["runnable"]
    run_id = client.post("/api/networks/tour/start", json={"prompt": "a lighthouse"}, headers=auth).get_json()["run_id"]
    live.wait_until(lambda: live.engine.states["tour"].run is None or live.engine.states["tour"].run.sequence >= 4)
    assert client.post("/api/stop-all", headers=auth).status_code == 200

    context = chromium.new_context(viewport=DESKTOP)
    console = watched(context)
    page = context.new_page()
    page.set_default_timeout(10_000)
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.goto(f"{live.url}/login")
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('Log in')")
    for path in [*PAGES, f"/runs/{run_id}"]:
        response = page.goto(f"{live.url}{path}")
        assert response is not None and "frame-ancestors 'none'" in response.headers["content-security-policy"]
        page.wait_for_load_state("load")
        assert violations(page) == [], path
    # the run's pictures are shown and its sounds play
    images = page.locator(".feed img")
    assert images.count() >= 1
    assert all(w > 0 for w in images.evaluate_all("els => els.map(e => e.complete ? e.naturalWidth : 0)"))
    durations = page.locator(".feed audio").evaluate_all("""els => Promise.all(els.map(a => new Promise(done => {
        a.addEventListener("loadedmetadata", () => done(a.duration), {once: true});
        a.addEventListener("error", () => done(-1), {once: true});
        a.preload = "auto"; a.load(); })))""")
    assert durations and all(d > 0 for d in durations)
    # the live feed connects; the delete form asks first (no inline handler) and obeys the answer
    page.goto(f"{live.url}/")
    playwright_api.expect(page.locator('[data-status="live"]')).to_have_text("live")
    page.goto(f"{live.url}/networks/tour")
    assert live.config.networks_dir is not None
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.click("button:has-text('Delete tour')")
    playwright_api.expect(page).to_have_url(f"{live.url}/networks/tour")
    assert (live.config.networks_dir / "tour.toml").is_file()
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("button:has-text('Delete tour')")
    playwright_api.expect(page).to_have_url(f"{live.url}/networks")
    assert not (live.config.networks_dir / "tour.toml").exists()
    assert violations(page) == [] and console == [] and errors == []
    context.close()
