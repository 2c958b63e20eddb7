"""The admin page and the API read windows: a long run shows its newest steps at once and pages
back; history, /api/runs and the node backfill page by cursor; a mangled cursor is a clear 400."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from flask_ui.app import Settings, create_app
from panic_edge.config import AdminConfig
from panic_edge.core.invocation import Invocation, InvocationState, Run
from panic_edge.core.media import Content, MediaType
from panic_edge.store import writes
from panic_edge.store.migrations import migrate

STEPS = 130


def build(path: Path) -> None:
    """A database made by the store's own writes: one long running run, and 40 short ended ones."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    migrate(conn)

    def run(run_id: str, started: float, steps: int, ended: bool) -> None:
        writes.begin_run(conn, Run(run_id, "demo", f"prompt of {run_id}", started))
        for seq in range(steps):
            at = started + seq
            writes.add_invocation(conn, Invocation(f"{run_id}.{seq}", run_id, "demo", seq, "local-poet",
                                                   InvocationState.INVOKING, Content.of_text(f"in {seq}"),
                                                   MediaType.TEXT, created_at=at, started_at=at))
            writes.complete(conn, f"{run_id}.{seq}", Content.of_text(f"verse number {seq}"), at + 0.5,
                            {"cost_usd": 0.001})
        if ended:
            writes.end_run(conn, run_id, "stopped", started + steps)

    conn.execute("BEGIN")
    for n in range(40):
        run(f"short{n:02d}", 1000.0 + n * 10, 3, ended=True)
    run("long", 5000.0, STEPS, ended=False)
    conn.execute("COMMIT")
    conn.close()


@pytest.fixture
def client(tmp_path: Path) -> FlaskClient:
    db = tmp_path / "db.sqlite3"
    build(db)
    status: dict[str, Any] = {"networks": {"demo": {"name": "Demo", "state": "running", "models": ["local-poet"],
                                                    "run_id": "long", "sequence": STEPS - 1}}}
    settings = Settings(tmp_path / "archive", db, status=lambda: status,
                        admin=AdminConfig(public_readonly=True))
    return create_app(settings).test_client()


def steps_on(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'<span class="seq">#(\d+)</span>', html)]


def link(html: str, rel: str) -> str:
    found = re.search(rf'<a href="([^"]+)" rel="{rel}"', html)
    assert found, f"no {rel} link"
    return found.group(1).replace("&amp;", "&")


def test_a_long_runs_page_shows_its_newest_steps_and_pages_back_to_the_first(client: FlaskClient):
    html = client.get("/runs/long").get_data(as_text=True)
    assert steps_on(html)[:3] == [STEPS - 1, STEPS - 2, STEPS - 3] and len(steps_on(html)) == 50
    assert f"{STEPS} steps" in html and "running" in html
    seen = steps_on(html)
    while 'rel="next"' in html:
        html = client.get(link(html, "next")).get_data(as_text=True)
        seen += steps_on(html)
    assert seen == list(range(STEPS - 1, -1, -1))
    newer = client.get(link(html, "prev")).get_data(as_text=True)  # and back towards the newest
    assert steps_on(newer)[-1] == steps_on(html)[0] + 1


def test_the_dashboard_shows_the_newest_steps_of_the_run_in_progress(client: FlaskClient):
    html = client.get("/").get_data(as_text=True)
    assert steps_on(html) == list(range(STEPS - 1, STEPS - 13, -1))


def test_history_pages_by_cursor(client: FlaskClient):
    html = client.get("/history").get_data(as_text=True)
    assert "prompt of long" in html and "prompt of short39" in html and "prompt of short00" not in html
    older = client.get(link(html, "next")).get_data(as_text=True)
    assert "prompt of short00" in older and "prompt of long" not in older
    assert "prompt of long" in client.get(link(older, "prev")).get_data(as_text=True)


def test_api_lists_are_windows_newest_first_with_cursors(client: FlaskClient):
    first = client.get("/api/runs?limit=10").get_json()
    assert [r["id"] for r in first["runs"]][:2] == ["long", "short39"] and first["newer"] is None
    assert first["runs"][0]["invocations"] == STEPS
    second = client.get(f"/api/runs?limit=10&before={first['older']}").get_json()
    assert second["runs"][0]["id"] == "short30"
    run = client.get("/api/runs/long?limit=5").get_json()
    assert [i["sequence"] for i in run["invocations"]] == [129, 128, 127, 126, 125]
    assert run["run"]["invocations"] == STEPS and run["older"] == "125"
    nodes = client.get("/api/networks/demo/invocations?limit=4").get_json()
    assert [i["sequence"] for i in nodes["invocations"]] == [129, 128, 127, 126]
    more = client.get(f"/api/networks/demo/invocations?limit=4&before={nodes['older']}").get_json()
    assert [i["sequence"] for i in more["invocations"]] == [125, 124, 123, 122]
    # a node back from a day away asks for what came after the last one it saw, in windows
    since = client.get(f"/api/networks/demo/invocations?limit=2&after={more['older']}").get_json()
    assert [i["sequence"] for i in since["invocations"]] == [124, 123] and since["newer"] is not None
    rest = client.get(f"/api/networks/demo/invocations?limit=9&after={since['newer']}").get_json()
    assert [i["sequence"] for i in rest["invocations"]] == [129, 128, 127, 126, 125]
    assert rest["newer"] is None


@pytest.mark.parametrize("path", ["/history?before=yesterday", "/runs/long?after=-3", "/api/runs?before=x",
                                  "/api/runs/long?before=1e999", "/api/networks/demo/invocations?before=1.0:x",
                                  "/api/networks/demo/invocations?after=nan:1",
                                  "/api/runs?offset=25"])
def test_a_mangled_cursor_is_refused_with_a_clear_message(client: FlaskClient, path: str):
    response = client.get(path)
    assert response.status_code == 400
    assert b"cursor" in response.data or b"step number" in response.data or b"offset" in response.data
