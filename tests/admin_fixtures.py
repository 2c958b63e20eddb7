"""Fixtures for the admin page: a threaded daemon with a password, a token and a networks folder,
and a logged-in test client. A pytest plugin (tests/conftest.py): test modules use the fixtures
without importing them, and import only the helpers (PASSWORD, TOKEN, Browser, csrf_of)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.security import generate_password_hash

from tests.live import ThreadedDaemon

PASSWORD = "correct horse battery"
TOKEN = "t0ken-for-scripts"
HASH = generate_password_hash(PASSWORD)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf-token" content="([^"]+)"', html)
    assert found, "the page has no CSRF token"
    return found.group(1)


@pytest.fixture
def networks_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "networks"
    folder.mkdir()
    return folder


@pytest.fixture
def gallery(networks_dir: Path) -> str:
    """A network of local models whose lockout outlasts any test (loaded when ``live`` starts)."""
    (networks_dir / "gallery.toml").write_text(
        'name = "Gallery"\n'
        'description = "Your words become a verse, the verse a picture, the picture words again."\n'
        'models = ["local-poet", "local-painter", "local-captioner"]\nlockout_seconds = 600\n')
    return "gallery"


@pytest.fixture
def admin_env(networks_dir: Path) -> dict[str, str]:
    return {"PANIC_EDGE_ADMIN_PASSWORD_HASH": HASH, "PANIC_EDGE_ADMIN_API_TOKEN": TOKEN,
            "PANIC_EDGE_NETWORKS_DIR": str(networks_dir)}


@pytest.fixture
def live(make_config, admin_env) -> Iterator[ThreadedDaemon]:
    running = ThreadedDaemon(make_config(**admin_env)).start()
    try:
        yield running
    finally:
        running.stop()


class Browser:
    """Flask's test client with the CSRF token of the last page it saw."""

    def __init__(self, client) -> None:
        self.client = client
        self.token = ""

    def get(self, path: str, **kw):
        response = self.client.get(path, **kw)
        if response.mimetype == "text/html" and b"csrf-token" in response.data:
            self.token = csrf_of(response.get_data(as_text=True))
        return response

    def post(self, path: str, data: dict | None = None, csrf: bool = True, **kw):
        if not self.token:
            self.get("/login")
        data = dict(data or {})
        if csrf:
            data.setdefault("csrf_token", self.token)
        return self.client.post(path, data=data, **kw)

    def login(self, password: str = PASSWORD, next: str = ""):
        self.get("/login")
        return self.post("/login", {"password": password, "next": next})


@pytest.fixture
def browser(live: ThreadedDaemon) -> Browser:
    return Browser(live.app.test_client())


@pytest.fixture
def admin(browser: Browser) -> Browser:
    assert browser.login().status_code == 302
    browser.get("/")
    return browser
