"""A visitor's phone, end to end in a phone-sized headless Chromium against a real daemon: the
admin prints the QR code, the phone opens the URL that code encodes, sees the current run and the
lockout counting down, and sends a prompt; an expired code gets a friendly page.

Set PANIC_EDGE_SCREENSHOTS=1 to rewrite docs/screenshots/visitor-*.png.
"""

from __future__ import annotations

import html
import re
import time

from panic_edge.core.visit import visit_url
from tests.admin_fixtures import PASSWORD
from tests.live import ThreadedDaemon
from tests.test_admin_browser import DESKTOP, PHONE, playwright_api, pytestmark, shoot  # noqa: F401 -- pytestmark: its skip


def test_a_phone_opens_the_printed_code_sees_the_lockout_and_sends_a_prompt(chromium, gallery,
                                                                            live: ThreadedDaemon):
    expect = playwright_api.expect
    live.call(lambda: live.engine.start(gallery, "a lighthouse in a storm"))  # running, locked out

    desk = chromium.new_context(viewport=DESKTOP).new_page()
    desk.set_default_timeout(10_000)
    desk.goto(f"{live.url}/login?next=/networks/{gallery}")
    desk.fill("input[name=password]", PASSWORD)
    desk.click("button:has-text('Log in')")
    desk.click("#visitor-qr")
    expect(desk.locator("#printable svg")).to_be_visible()
    url = html.unescape(desk.locator("#printable").get_attribute("data-url"))  # what the QR encodes
    assert re.fullmatch(re.escape(live.url) + rf"/visit/{gallery}\?t=[\w.-]+", url)
    shoot(desk, "visitor-print-desktop")

    phone = chromium.new_context(viewport=PHONE, is_mobile=True, has_touch=True).new_page()
    phone.set_default_timeout(10_000)
    errors: list[str] = []
    phone.on("pageerror", lambda err: errors.append(str(err)))
    phone.goto(url)
    expect(phone.locator("h1")).to_have_text("Gallery")
    expect(phone.locator("#current-prompt")).to_have_text("a lighthouse in a storm")
    lockout = phone.locator("#lockout")
    expect(lockout).to_contain_text("a new prompt can start in")
    first = lockout.inner_text()
    assert re.search(r"can start in \d+ min \d\d s$", first)
    expect(lockout).not_to_have_text(first)  # counting down (no eval: the page's CSP forbids it)
    shoot(phone, "visitor-phone", full_page=False)

    phone.fill("#prompt", "a heron in the rain")
    phone.click("#send")
    expect(phone.locator(".note.error:visible")).to_contain_text("yours can start in")  # the lockout held
    live.call(lambda: live.engine.stop(gallery))
    phone.fill("#prompt", "a heron in the rain")
    phone.click("#send")
    expect(phone.locator(".note:visible")).to_contain_text("your prompt is on its way")
    expect(phone.locator("#current-prompt")).to_have_text("a heron in the rain")
    assert errors == []

    old = live.app.config["VISIT_PASSES"].issue(gallery, time.time() - 7200, 3600)
    phone.goto(visit_url(live.url, old))
    expect(phone.locator("h1")).to_have_text("This code has expired")
    shoot(phone, "visitor-expired-phone", full_page=False)
    phone.context.close()  # before the daemon stops: no polling connection left open
    desk.context.close()
