"""Who may do what on the admin page: login, landing page, CSRF, rate limit, tokens, public
read-only pages. Flask's test client against a real daemon (real engine, SQLite, broker)."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import pytest

from tests.admin_fixtures import PASSWORD, TOKEN, Browser
from tests.live import ThreadedDaemon

NETWORK_FORM: dict[str, Any] = {"slug": "night", "is_new": "1", "name": "Night", "models": ["local-poet"],
                                "prompts": "hello", "lockout_seconds": "5", "offline_policy": "pause"}

# Every action a page offers: (path, form). Each must refuse an anonymous user and a bad CSRF token.
ACTIONS = [
    ("/run/start", {"network": "demo", "prompt": "not allowed"}),
    ("/run/stop", {"network": "demo"}),
    ("/run/stop-all", {}),
    ("/run/restart", {"invocation": "nope.0"}),
    ("/networks/save", NETWORK_FORM),
    ("/networks/demo/delete", {}),
    ("/backups/restore", {}),
]
# Every action under /api: (method, path, json)
API_ACTIONS = [
    ("POST", "/api/networks/demo/start", {"prompt": "not allowed"}),
    ("POST", "/api/networks/demo/stop", {}),
    ("POST", "/api/stop-all", {}),
    ("POST", "/api/invocations/nope.0/restart", {}),
    ("PUT", "/api/networks/night", {"name": "Night", "models": ["local-poet"]}),
    ("DELETE", "/api/networks/demo", None),
    ("POST", "/api/restore", None),
    ("GET", "/api/backup", None),
]
READ_PAGES = ["/", "/networks", "/networks/demo", "/history", "/models", "/api/networks", "/api/models",
              "/api/runs", "/api/networks/check?models=local-poet"]


def assert_untouched(live: ThreadedDaemon, networks_dir: Path) -> None:
    assert live.engine.states["demo"].phase == "idle"
    assert not (networks_dir / "night.toml").exists()
    assert live.call(live.engine.store.runs) == []


def test_a_page_asked_for_before_login_is_where_the_login_lands(browser: Browser):
    response = browser.get("/history?page=0")
    assert response.status_code == 302 and "/login?next=/history?page%3D0" in response.location
    response = browser.login(next="/history?page=0")
    assert response.status_code == 302 and response.location == "/history?page=0"
    assert browser.get("/history").status_code == 200


OFF_SITE = ["//evil.example/x", "https://evil.example/", "/\\evil.example", "/\t/evil.example", "/\n/evil.example",
            "/\r\n/evil.example", "/\x00/evil.example", " //evil.example", "/\u3000/evil.example", "\x0b//evil.example",
            "javascript:alert(1)", "http:evil.example", "/\u202e/evil.example"]


def test_a_login_never_redirects_off_the_site(browser: Browser):
    for target in OFF_SITE:
        response = browser.login(next=target)
        assert response.status_code == 302 and response.location == "/", target
        browser.post("/logout")


def test_next_with_an_encoded_tab_or_newline_from_the_address_bar_lands_on_the_dashboard(browser: Browser):
    for query in ("next=/%09/evil.example", "next=/%0a/evil.example", "next=%2F%0D%0A%2Fevil.example"):
        page = browser.get(f"/login?{query}")
        assert page.status_code == 200
        hidden = re.search(r'name="next" value="([^"]*)"', page.get_data(as_text=True)).group(1)
        response = browser.login(next=html.unescape(hidden))
        assert response.status_code == 302 and response.location == "/", query
        browser.post("/logout")


def test_media_with_a_nul_or_a_path_outside_the_archive_is_a_404(browser: Browser):
    for path in ("/media/%00", "/media/a%00b.png", "/media/../panic-edge.sqlite3", "/media/%2e%2e/x",
                 "/media/" + "a" * 5000):
        assert browser.get(path).status_code == 404, path


def test_a_wrong_password_is_refused_and_logs_nobody_in(browser: Browser):
    response = browser.login("wrong password")
    assert response.status_code == 401 and b"wrong password" in response.data
    assert browser.get("/run").status_code == 302


def test_a_login_without_its_csrf_token_is_refused(browser: Browser):
    response = browser.post("/login", {"password": PASSWORD}, csrf=False)
    assert response.status_code == 400
    assert browser.get("/run").status_code == 302


def test_failed_logins_are_rate_limited_per_client_then_forgiven(browser: Browser, live: ThreadedDaemon):
    now = [1000.0]
    live.app.config["LIMITER"].clock = lambda: now[0]
    for _ in range(5):
        assert browser.login("guess").status_code == 401
    refused = browser.login()  # even the right password waits
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert browser.get("/run").status_code == 302
    now[0] += 301
    assert browser.login().status_code == 302
    assert browser.get("/run").status_code == 200


@pytest.mark.parametrize("path, form", ACTIONS, ids=[a[0] for a in ACTIONS])
def test_every_action_refuses_a_visitor_who_is_not_logged_in(browser: Browser, live, networks_dir, path, form):
    browser.get("/login")
    response = browser.post(path, form)
    assert response.status_code == 302 and "/login" in response.location
    assert_untouched(live, networks_dir)


@pytest.mark.parametrize("path, form", ACTIONS, ids=[a[0] for a in ACTIONS])
def test_every_action_refuses_a_bad_csrf_token(admin: Browser, live, networks_dir, path, form):
    assert admin.post(path, {**form, "csrf_token": "forged"}).status_code == 400
    assert admin.post(path, form, csrf=False).status_code == 400
    assert_untouched(live, networks_dir)


@pytest.mark.parametrize("method, path, body", API_ACTIONS, ids=[f"{a[0]} {a[1]}" for a in API_ACTIONS])
def test_every_api_action_refuses_no_token_and_a_wrong_token(browser: Browser, live, networks_dir,
                                                            method, path, body):
    client = browser.client
    assert client.open(path, method=method, json=body).status_code == 401
    bad = client.open(path, method=method, json=body, headers={"Authorization": "Bearer wrong"})
    assert bad.status_code == 401 and bad.get_json()["error"] == "bad API token"
    assert_untouched(live, networks_dir)


def test_an_api_call_from_a_logged_in_browser_needs_the_csrf_header(admin: Browser, live, networks_dir):
    client = admin.client
    assert client.post("/api/networks/demo/start", json={"prompt": "x"}).status_code == 400
    assert_untouched(live, networks_dir)
    ok = client.post("/api/networks/demo/start", json={"prompt": "x"}, headers={"X-CSRFToken": admin.token})
    assert ok.status_code == 200 and ok.get_json()["run_id"]


def test_the_api_token_works_without_a_session_or_csrf(browser: Browser, live: ThreadedDaemon):
    client = browser.client
    auth = {"Authorization": f"Bearer {TOKEN}"}
    started = client.post("/api/networks/demo/start", json={"prompt": "from a script"}, headers=auth)
    assert started.status_code == 200
    assert live.engine.states["demo"].run.run_id == started.get_json()["run_id"]
    stopped = client.post("/api/stop-all", headers=auth)
    assert stopped.get_json()["stopped"] == ["demo"]


def test_bad_api_tokens_are_rate_limited_too(browser: Browser, live: ThreadedDaemon):
    live.app.config["TOKEN_LIMITER"].clock = lambda: 5.0
    for _ in range(5):
        browser.client.post("/api/stop-all", headers={"Authorization": "Bearer guess"})
    refused = browser.client.post("/api/stop-all", headers={"Authorization": f"Bearer {TOKEN}"})
    assert refused.status_code == 429 and "Retry-After" in refused.headers


@pytest.mark.parametrize("path", READ_PAGES)
def test_read_only_pages_need_a_login_by_default(browser: Browser, path: str):
    response = browser.get(path)
    assert response.status_code in (302, 401)
    assert browser.get("/api/status").status_code == 200  # the display-node contract stays open


def test_logging_out_ends_the_session(admin: Browser):
    assert admin.get("/run").status_code == 200
    assert admin.post("/logout").status_code == 302
    assert admin.get("/run").status_code == 302


def test_the_session_cookie_is_http_only_and_same_site(browser: Browser):
    browser.get("/login")
    response = browser.post("/login", {"password": PASSWORD})
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_with_login_off_nobody_gets_in(make_config, networks_dir):
    running = ThreadedDaemon(make_config(PANIC_EDGE_NETWORKS_DIR=str(networks_dir))).start()
    try:
        b = Browser(running.app.test_client())
        assert b.get("/login").status_code == 200 and b"Logging in is off" in b.get("/login").data
        assert b.login("").status_code == 403
        assert b.get("/run").status_code == 302
    finally:
        running.stop()


def test_public_readonly_opens_the_read_pages_but_not_the_actions(make_config, admin_env, networks_dir):
    running = ThreadedDaemon(make_config(**admin_env, PANIC_EDGE_ADMIN_PUBLIC_READONLY="true")).start()
    try:
        b = Browser(running.app.test_client())
        for path in READ_PAGES:
            assert b.get(path).status_code == 200, path
        assert b"Stop all" not in b.get("/").data
        for path, form in ACTIONS:
            assert b.post(path, form).status_code == 302, path
        assert b.get("/backups").status_code == 302 and b.get("/api/backup").status_code == 401
        assert running.engine.states["demo"].phase == "idle"
    finally:
        running.stop()
