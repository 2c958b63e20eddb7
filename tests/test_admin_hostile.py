"""Every route of the real admin app, walked with hostile input (path segments, query strings,
form, JSON and multipart bodies: arbitrary unicode with lone surrogates, raw bytes, NUL, huge
values and numbers, wrong types, deep nesting), anonymously, as a logged-in admin and with the
API token: every answer is below 500. The routes come from ``app.url_map``, so a route added
later is walked too. A real daemon (engine, SQLite, broker) stands behind the app."""

from __future__ import annotations

import json
import os
import re
import socket
from collections.abc import Callable
from typing import Any
from urllib.parse import quote_from_bytes

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flask_ui.app import Settings, create_app
from flask_ui.headers import HEADERS
from panic_edge.config import AdminConfig
from tests.admin_fixtures import TOKEN, Browser
from tests.live import ThreadedDaemon

EXAMPLES = int(os.environ.get("PANIC_EDGE_FUZZ_EXAMPLES", "12"))  # per route, method and way in
SPECIAL = ["\x00", "\t", "\n", "\r\n", "\ud800", "\udfff", "\uffff", "\u202e", "9" * 5000, "-1", "0", "1e999",
           "-9223372036854775809", "NaN", "..", "../../etc/passwd", "%00", "%", "//evil.example",
           "/\t/evil.example", "\\\\evil.example", "javascript:alert(1)", "x" * 70_000, "demo", "local-poet",
           "local-painter", "[]", "{}", "null", "true", " ", ""]
TEXT = st.one_of(st.sampled_from(SPECIAL), st.text(st.characters(exclude_categories=()), max_size=30))
VALUE = st.one_of(TEXT, st.binary(max_size=30))
FIELDS = ["network", "prompt", "slug", "is_new", "name", "description", "models", "lockout_seconds", "prompts",
          "offline_policy", "about_url", "invocation", "back", "next", "password", "page", "limit", "offset",
          "backup",
          # every query parameter a page reads: cursors, windows, filters (flask_ui: request.args)
          "before", "after", "all", "days", "hours", "model", "t", "used"]
KEY = st.one_of(st.sampled_from(FIELDS), TEXT)
JSON_LEAF = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), TEXT)
JSON_TREE = st.recursive(JSON_LEAF, lambda inner: st.lists(inner, max_size=3)
                         | st.dictionaries(KEY, inner, max_size=4), max_leaves=10)
RAW_JSON = st.sampled_from([b"[" * 100_000 + b"]" * 100_000, b'{"prompt": ' + b"9" * 100_000 + b"}",
                            b'{"prompt": "\\ud800"}', b'{"network": "\\udfff", "models": ["\\ud800"]}',
                            b"\xff\xfe{}", b"{", b'{"prompt": 1e999}', b'{"models": "' + b"a," * 30_000 + b'"}'])


def encode(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode("utf-8", "surrogatepass")


def pct(value: str | bytes, safe: str = "") -> str:
    return quote_from_bytes(encode(value), safe=safe)


def form_bytes(pairs: list[tuple[Any, Any]]) -> bytes:
    return "&".join(f"{pct(k)}={pct(v)}" for k, v in pairs).encode()


@st.composite
def bodies(draw: st.DrawFn) -> tuple[bytes, str | None]:
    kind = draw(st.sampled_from(["none", "form", "json", "raw-json", "multipart", "bytes"]))
    if kind == "none":
        return b"", None
    if kind == "form":
        return form_bytes(draw(st.lists(st.tuples(KEY, VALUE), max_size=8))), "application/x-www-form-urlencoded"
    if kind == "json":
        tree = draw(st.one_of(JSON_TREE, st.dictionaries(st.sampled_from(FIELDS), JSON_TREE, max_size=6)))
        return json.dumps(tree).encode(), "application/json"
    if kind == "raw-json":
        return draw(RAW_JSON), "application/json"
    if kind == "multipart":
        name = draw(st.sampled_from(["backup", "x", ""]))
        filename = pct(draw(TEXT))
        content = draw(st.one_of(st.binary(max_size=200), st.just(b"SQLite format 3\x00" + b"\x00" * 200)))
        body = (b"--B\r\nContent-Disposition: form-data; name=\"" + name.encode() + b"\"; filename=\""
                + filename.encode() + b"\"\r\nContent-Type: application/octet-stream\r\n\r\n" + content
                + b"\r\n--B--\r\n")
        return body, "multipart/form-data; boundary=B"
    return draw(st.binary(max_size=200)), draw(st.sampled_from(["text/plain", "application/json",
                                                                "multipart/form-data", "x/\x00"]))


def path_for(rule: Any, draw: Callable[[st.SearchStrategy[Any]], Any]) -> bytes:
    """The rule's path with each variable replaced by hostile bytes (as a server decodes them)."""
    out = rule.rule
    for name, converter in rule._converters.items():
        hostile = encode(draw(st.one_of(VALUE.filter(lambda v: len(v) > 0), st.sampled_from(["demo", "x"]))))
        if type(converter).__name__ != "PathConverter":
            hostile = hostile.replace(b"/", b"%2F")
        out = re.sub(rf"<[^>]*:?{name}>", "\x01", out)
        out = out.replace("\x01", hostile.decode("latin-1"))
    return out.encode("latin-1")


def walk(client: Any, rule: Any, method: str, headers: dict[str, str], csrf: str) -> None:
    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(data=st.data())
    def one(data: st.DataObject) -> None:
        path = path_for(rule, data.draw)
        query = "&".join(f"{pct(k)}={pct(v)}" for k, v in data.draw(st.lists(st.tuples(KEY, VALUE), max_size=5)))
        body, content_type = data.draw(bodies()) if method != "GET" else (b"", None)
        if csrf and content_type == "application/x-www-form-urlencoded":
            body += b"&csrf_token=" + csrf.encode()
        response = client.open("/", method=method, data=body, content_type=content_type, headers=headers,
                               environ_overrides={"PATH_INFO": path.decode("latin-1"), "QUERY_STRING": query})
        try:
            assert response.status_code < 500, (method, path[:300], query[:300], body[:200], response.status_code,
                                                response.get_data()[:300])
        finally:
            response.close()

    one()


def routes(app: Any) -> list[tuple[Any, str]]:
    return [(rule, method) for rule in app.url_map.iter_rules()
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"})]


@pytest.mark.parametrize("way_in", ["anonymous", "admin", "token"])
def test_every_route_answers_hostile_input_below_500(live: ThreadedDaemon, browser: Browser, way_in: str):
    app = live.app
    headers: dict[str, str] = {}
    csrf = ""
    if way_in == "admin":
        assert browser.login().status_code == 302
        browser.get("/")
        csrf = browser.token
        headers = {"X-CSRFToken": csrf}
    elif way_in == "token":
        headers = {"Authorization": f"Bearer {TOKEN}"}
    walked = 0
    for rule, method in routes(app):
        if way_in == "admin" and rule.endpoint == "auth.logout":
            continue  # walked anonymously; here it would end the session being tested
        walk(browser.client, rule, method, headers, csrf)
        walked += 1
    assert walked >= 35
    if way_in == "admin":
        assert browser.get("/run").status_code == 200  # still logged in: the walk was as an admin
    assert live.app.config["PANIC"].hub.subscribers == 0  # every event stream was let go


def raw_request(live: ThreadedDaemon, line: bytes) -> int:
    """Send one request line as bytes to the real server (waitress) and return the status."""
    with socket.create_connection(("127.0.0.1", live.daemon.http.port), timeout=10) as sock:
        sock.sendall(line + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        head = b""
        while b"\r\n" not in head:
            chunk = sock.recv(4096)
            if not chunk:
                break
            head += chunk
    return int(head.split(b" ", 2)[1])


RAW_LINES = [b"GET /media/%00", b"GET /media/\xed\xa0\x80", b"GET /media/" + b"a" * 5000,
             b"GET /login?next=/%0a/evil.example", b"GET /runs/%ff%fe", b"GET /networks/\xff",
             b"GET /api/networks/%00/invocations?limit=99999999999999999999999",
             b"GET /history?page=-99999999999999999999", b"GET /api/runs?limit=1e999&offset=-1"]


def test_the_real_server_answers_raw_hostile_request_lines_below_500(live: ThreadedDaemon):
    for line in RAW_LINES:
        assert raw_request(live, line) < 500, line


def test_every_answer_carries_the_security_headers(live: ThreadedDaemon, browser: Browser):
    assert browser.login().status_code == 302
    client = browser.client
    answers = {path: client.get(path) for path in ["/", "/login", "/history", "/networks/demo", "/api/status",
                                                   "/api/runs/nope", "/media/nope.png", "/static/admin.css",
                                                   "/no-such-page"]}
    answers["POST /run/stop-all without CSRF"] = client.post("/run/stop-all")
    answers["DELETE /login"] = client.delete("/login")
    for what, response in answers.items():
        for name, value in HEADERS.items():
            assert response.headers.get(name) == value, (what, name)
        response.close()
    assert answers["/"].headers["Cache-Control"] == "no-store"
    assert "no-store" not in answers["/static/admin.css"].headers.get("Cache-Control", "")
    assert answers["/api/runs/nope"].status_code == 404 and answers["/api/runs/nope"].is_json


@pytest.mark.allow_errors
def test_an_unexpected_exception_is_logged_and_answered_with_a_plain_500(tmp_path, caplog):
    def broken() -> dict[str, Any]:
        raise RuntimeError("internal detail /srv/secret")

    app = create_app(Settings(tmp_path / "archive", tmp_path / "db.sqlite3", status=broken,
                              admin=AdminConfig(public_readonly=True)))
    client = app.test_client()
    page = client.get("/")
    assert page.status_code == 500 and b"it has been logged" in page.data
    assert b"internal detail" not in page.data and b"Traceback" not in page.data
    assert page.headers["Content-Security-Policy"] == HEADERS["Content-Security-Policy"]
    api = client.get("/api/status")
    assert api.status_code == 500 and api.get_json() == {"error": "internal error; it has been logged"}
    logged = [r for r in caplog.records if r.name == "panic_edge.http"]
    assert [r.getMessage() for r in logged] == ["GET / failed", "GET /api/status failed"]
    assert all(r.exc_info and r.exc_info[0] is RuntimeError for r in logged)
