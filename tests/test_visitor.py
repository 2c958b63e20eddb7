"""Visitors' phones: signed passes, the prompt page without a login, its rate limits, the engine's
own start path (lockout), and the fresh pass the screens get through the retained status."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flask_ui.app import Settings, create_app
from flask_ui.ratelimit import SlidingWindow
from flask_ui.visitor import issue_link
from panic_edge.core.visit import Verdict, VisitPasses
from panic_edge.nodes.feed import Single
from panic_edge.nodes.messages import parse_status
from panic_edge.nodes.view import NodeState
from tests.admin_fixtures import Browser
from tests.live import ThreadedDaemon
from tests.mqtt_probe import Probe

KEY = b"k" * 32
NOW = 1_800_000_000.0


def test_a_pass_opens_its_network_until_it_expires_and_no_other():
    passes = VisitPasses(KEY)
    issued = passes.issue("demo", NOW, 3600)
    assert issued.expires_at == NOW + 3600
    assert passes.check(issued.token, "demo", NOW + 3599) is Verdict.OK
    assert passes.check(issued.token, "demo", NOW + 3600) is Verdict.EXPIRED
    assert passes.check(issued.token, "other", NOW) is Verdict.OTHER_NETWORK
    assert VisitPasses(b"another key" * 3).check(issued.token, "demo", NOW) is Verdict.INVALID
    body, _, signature = issued.token.rpartition(".")
    assert passes.check(body + "." + signature[::-1], "demo", NOW) is Verdict.INVALID


@given(st.text(max_size=600))
def test_any_text_as_a_pass_is_refused_and_never_raises(token):
    assert VisitPasses(KEY).check(token, "demo", NOW) is not Verdict.OK


@given(st.one_of(st.none(), st.integers(), st.text(), st.lists(st.integers()),
                 st.dictionaries(st.text(), st.text()),
                 st.fixed_dictionaries({"n": st.text(),
                                        "x": st.one_of(st.booleans(), st.floats(), st.text())})))
def test_a_signed_pass_of_the_wrong_shape_is_invalid(body):
    from itsdangerous import URLSafeSerializer

    from panic_edge.core.visit import SALT

    token = URLSafeSerializer(KEY, salt=SALT).dumps(body)
    assert VisitPasses(KEY).check(token, "demo", NOW) is Verdict.INVALID


@pytest.fixture
def app(tmp_path: Path):
    clock = {"now": NOW}
    status = {"networks": {"demo": {"name": "Demo", "state": "idle", "run_id": None, "lockout_until": None},
                           "other": {"name": "Other", "state": "idle", "run_id": None,
                                     "lockout_until": None}}}
    settings = Settings(tmp_path / "archive", tmp_path / "db.sqlite3", status=lambda: status,
                        now=lambda: clock["now"])
    flask_app = create_app(settings)
    flask_app.config["CLOCK"] = clock
    return flask_app


def _path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def test_the_prompt_page_opens_with_a_fresh_pass_and_needs_no_login(app):
    url, _ = issue_link(app, "demo", "http://panic.local:8750")
    assert url.startswith("http://panic.local:8750/visit/demo?t=")
    page = app.test_client().get(_path(url))
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "<h1>Demo</h1>" in html and 'name="prompt"' in html
    assert "ready for your prompt" in html and "<script>" not in html and "style=" not in html


def test_an_expired_or_other_networks_pass_gets_a_friendly_page(app):
    client = app.test_client()
    url, _ = issue_link(app, "demo", "http://x")
    app.config["CLOCK"]["now"] = NOW + 3601
    expired = client.get(_path(url))
    assert expired.status_code == 403 and "This code has expired" in expired.get_data(as_text=True)
    assert client.get(_path(url).replace("/visit/demo", "/visit/demo/state")).status_code == 403
    app.config["CLOCK"]["now"] = NOW
    other = client.get(_path(url).replace("/visit/demo", "/visit/other"))
    assert other.status_code == 403 and "for another work" in other.get_data(as_text=True)
    for bad in ("/visit/demo", "/visit/demo?t=", "/visit/demo?t=%00%ff", "/visit/demo?t=" + "a" * 5000):
        response = client.get(bad)
        assert response.status_code == 403 and "doesn't work" in response.get_data(as_text=True)
    gone, _ = issue_link(app, "gone", "http://x")
    assert client.get(_path(gone)).status_code == 404


def _form(client, url: str) -> dict[str, str]:
    html = client.get(_path(url)).get_data(as_text=True)
    return {"csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', html).group(1),
            "t": re.search(r'name="t" value="([^"]+)"', html).group(1)}


def test_a_phone_starts_a_run_through_the_engine_and_the_lockout_applies(gallery, live: ThreadedDaemon):
    app = live.app
    url, _ = issue_link(app, gallery, live.url)
    client = app.test_client()
    form = _form(client, url)
    sent = client.post(f"/visit/{gallery}", data={**form, "prompt": "a heron in the rain"})
    assert sent.status_code == 302 and f"/visit/{gallery}?t=" in sent.location
    assert "your prompt is on its way" in client.get(sent.location).get_data(as_text=True)
    run = live.engine.states[gallery].run
    assert run is not None
    locked = client.post(f"/visit/{gallery}", data={**form, "prompt": "me too"}, follow_redirects=True)
    assert "yours can start in" in locked.get_data(as_text=True)
    assert live.engine.states[gallery].run == run  # the lockout held: no second run
    page = client.get(_path(url)).get_data(as_text=True)
    assert "a heron in the rain" in page and "a new prompt can start in" in page
    state = client.get(_path(url).replace(f"/visit/{gallery}", f"/visit/{gallery}/state")).get_json()
    assert state["prompt"] == "a heron in the rain" and state["running"] and state["lockout_until"] > 0


def test_prompts_are_rate_limited_per_phone(live: ThreadedDaemon):
    app = live.app
    url, _ = issue_link(app, "demo", live.url)
    client = app.test_client()
    form = _form(client, url)
    limit = live.config.visitors.client_starts_per_minute
    for _ in range(limit):
        assert client.post("/visit/demo", data={**form, "prompt": "again"}).status_code == 302
    refused = client.post("/visit/demo", data={**form, "prompt": "again"})
    assert refused.status_code == 429 and "try again in" in refused.get_data(as_text=True)
    assert int(refused.headers["Retry-After"]) > 0


def test_the_screens_get_a_fresh_pass_through_the_retained_status(live: ThreadedDaemon, broker):
    probe = Probe(broker.url, f"panic/{live.config.appliance_id}/status")
    try:
        body = probe.wait_for(lambda topic, b: isinstance(b, dict) and "visit_url" in
                              b.get("networks", {}).get("demo", {}))
    finally:
        probe.client.loop_stop()
    status = parse_status(json.dumps(body).encode())
    node = NodeState("demo", Single(), show_qr=True)
    node.status = status
    shown = node.view(NOW).about_url
    assert shown == status.visit_urls["demo"] and shown.startswith(live.url + "/visit/demo?t=")
    assert live.app.test_client().get(_path(shown)).status_code == 200
    assert "visit_url" not in live.app.test_client().get("/api/status").get_json()["networks"]["demo"]
    about_only = NodeState("demo", Single(), show_qr=True, qr_visit=False)
    about_only.status = status
    assert about_only.view(NOW).about_url is None  # the demo has no about page


def test_the_admin_prints_a_code_for_a_day(live: ThreadedDaemon):
    admin = Browser(live.app.test_client())
    assert admin.client.get("/networks/demo/qr").status_code == 302  # a login first
    admin.login()
    page = admin.get("/networks/demo/qr?hours=8").get_data(as_text=True)
    url = re.search(r'data-url="([^"]+)"', page).group(1).replace("&amp;", "&")
    assert "<svg" in page and "valid until" in page
    passes = live.app.config["VISIT_PASSES"]
    token = url.split("?t=")[1]
    assert passes.check(token, "demo", time.time() + 7.9 * 3600) is Verdict.OK
    assert passes.check(token, "demo", time.time() + 8.1 * 3600) is Verdict.EXPIRED


@pytest.mark.parametrize("prompt", ["x" * 10_000, "\ud800 a lone surrogate", "  \n\t ",
                                    "<script>alert(1)</script>"])
def test_a_hostile_prompt_gets_a_clear_answer_never_a_500(gallery, live: ThreadedDaemon, prompt):
    url, _ = issue_link(live.app, gallery, live.url)
    client = live.app.test_client()
    form = _form(client, url)
    # as a phone would send it: the bytes, even invalid UTF-8 (a lone surrogate)
    body = urlencode({**form, "prompt": prompt.encode("utf-8", "surrogatepass")})
    answer = client.post(f"/visit/{gallery}", data=body, content_type="application/x-www-form-urlencoded",
                         follow_redirects=True, environ_base={"REMOTE_ADDR": f"10.0.0.{len(prompt) % 250}"})
    page = answer.get_data(as_text=True)
    assert answer.status_code == 200 and "<script>alert" not in page
    if prompt.strip() and len(prompt) <= 2000:
        assert "your prompt is on its way" in page
    else:
        assert live.engine.states[gallery].run is None and ('class="note error"' in page)


def test_a_network_takes_only_so_many_prompts_from_all_phones_together(make_config, admin_env):
    live = ThreadedDaemon(make_config(**admin_env)).start()
    try:
        app, now = live.app, [0.0]
        app.config["VISIT_NETWORKS"] = SlidingWindow(3, 60, lambda: now[0])  # the limits on a clock we turn
        app.config["VISIT_CLIENTS"] = SlidingWindow(1, 60, lambda: now[0])
        url, _ = issue_link(app, "demo", live.url)

        def prompt_from(phone: str) -> Any:
            client = app.test_client()
            client.environ_base["REMOTE_ADDR"] = phone
            return client.post("/visit/demo", data={**_form(client, url), "prompt": f"from {phone}"})

        assert [prompt_from(f"10.0.0.{n}").status_code for n in (1, 2, 3)] == [302, 302, 302]
        now[0] = 30
        refused = prompt_from("10.0.0.4")  # the network's share is spent, not this phone's
        assert refused.status_code == 429 and "so many prompts" in refused.get_data(as_text=True)
        assert 0 < int(refused.headers["Retry-After"]) <= 31
        now[0] = 61  # the network's window has moved on; the refused prompt did not count for the phone
        assert prompt_from("10.0.0.4").status_code == 302
        assert prompt_from("10.0.0.4").status_code == 429  # and now its own limit holds
    finally:
        live.stop()
