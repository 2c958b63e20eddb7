"""Insight on the admin page: the run's charts (JSON and, in Chromium, SVG), runs like this one, the note
when insight is off."""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from flask_ui.app import Settings, create_app
from panic_edge.config import AdminConfig
from panic_edge.insight import db
from panic_edge.insight.embedders import load_embedder
from panic_edge.store import Store
from tests.browser_fixtures import CHROMIUM
from tests.insight_fixtures import build_model2vec
from tests.live import ThreadedDaemon
from tests.test_admin_browser import DESKTOP, playwright_api, shoot
from tests.test_insight_tracker import bulk_run, sentences, tracker

PUBLIC = {"PANIC_EDGE_ADMIN_PUBLIC_READONLY": "true"}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return build_model2vec(tmp_path_factory.mktemp("models") / "tiny-m2v")


@pytest.fixture
def live(make_config, model_dir) -> Iterator[ThreadedDaemon]:
    running = ThreadedDaemon(make_config(PANIC_EDGE_INSIGHT_MODEL_DIR=str(model_dir), **PUBLIC)).start()
    try:
        yield running
    finally:
        running.stop()


def runs_with_insight(live: ThreadedDaemon, prompts: list[str], points: int = 5) -> list[str]:
    """Runs of the demo network, each stopped once it has ``points`` insight points and runs like it."""
    ids: list[str] = []
    path = live.config.database_path
    for prompt in prompts:
        run_id = live.call(functools.partial(live.engine.start, "demo", prompt))
        deadline = time.monotonic() + 30
        while True:
            conn = db.connect(path, readonly=True)
            try:
                row = conn.execute("SELECT points, similar_at FROM insight_runs WHERE run_id = ?", (run_id,)).fetchone()
            finally:
                conn.close()
            if row is not None and row[0] >= points and (not ids or row[1] >= 3):
                break
            assert time.monotonic() < deadline, f"no insight for {run_id} in 30 s"
            time.sleep(0.05)
        live.call(lambda: live.engine.stop("demo"))
        ids.append(run_id)
    return ids


def test_the_run_page_has_the_charts_data_and_runs_like_this_one(live):
    first, second = runs_with_insight(live, ["a camel in the desert", "a camel in the desert at night"])
    client = live.app.test_client()
    data = client.get(f"/api/runs/{second}/insight").get_json()
    assert data["status"]["state"] == "on" and data["status"]["model"] == "tiny-m2v"
    model = data["models"][0]
    assert model["embedding_model"] == "tiny-m2v" and len(model["points"]) >= 5
    assert all(len(p["point"]) == 2 and p["drift"] >= 0 for p in model["points"])
    assert model["prompt_point"] is not None and model["persistence"]["points"] >= 5
    assert {h["name"] for h in model["hops"]} >= {"Drift Poet (local)",
                                                  "Pixel Painter (local) \u2192 Colour Captioner (local)"}
    assert model["similar"][0]["run_id"] == first
    page = client.get(f"/runs/{second}").get_data(as_text=True)
    assert 'id="insight"' in page and "insight.js" in page and "Insight is off" not in page
    like = client.get(f"/runs/{first}/like").get_data(as_text=True)
    assert "a camel in the desert at night" in like
    history = client.get("/history").get_data(as_text=True)
    assert f"/runs/{first}/like" in history
    assert client.get("/api/runs/nope/insight").status_code == 404


async def test_the_insight_api_is_a_window_of_the_newest_points_paged_by_step(tmp_path, model_dir):
    """A 700-step run: the newest 200 points by default, older ones with ``before``, what is new with
    ``after``; never the whole run."""
    path = tmp_path / "panic-edge.sqlite3"
    async with Store.open(path) as store:
        await bulk_run(store, "long", sentences(700, seed=3))
        tracker(path, load_embedder(model_dir)).update_run("long", load_embedder(model_dir), history=None)
        new = await bulk_run(store, "tail", sentences(3, seed=4))
        await store.write(lambda c: c.executemany(
            "UPDATE invocations SET run_id = 'long', sequence = ? WHERE id = ?", [(700 + i, n) for i, n in enumerate(new)]))
    client = create_app(Settings(tmp_path / "archive", path, admin=AdminConfig(public_readonly=True))).test_client()
    api = "/api/runs/long/insight"
    first = client.get(api).get_json()["models"][0]
    assert [p["sequence"] for p in first["points"]] == list(range(500, 700)), "the newest 200, in run order"
    assert first["points_total"] == 700 and first["older"] == "500" and first["newer"] is None
    assert first["hops"][0]["steps"] == 500, "the mean step per hop over the newest 500 points"
    page = client.get(f"{api}?before={first['older']}&limit=500").get_json()["models"][0]
    assert [p["sequence"] for p in page["points"]] == list(range(500)) and page["older"] is None
    assert client.get(f"{api}?after=699").get_json()["models"][0]["points"] == [], "nothing new yet"
    tracker(path, load_embedder(model_dir)).handle(new[-1])
    fresh = client.get(f"{api}?after=699&model=tiny-m2v").get_json()["models"][0]
    assert [p["sequence"] for p in fresh["points"]] == [700, 701, 702] and fresh["projection"] == first["projection"]
    assert len(client.get(f"{api}?limit=100000").get_json()["models"][0]["points"]) == 500, "at most 500"
    assert client.get(f"{api}?model=nope").get_json()["models"] == []
    for bad in ("before=x", "after=-1", "limit=many"):
        assert client.get(f"{api}?{bad}").status_code == 400


def test_with_insight_off_the_run_page_and_api_say_why(make_config):
    running = ThreadedDaemon(make_config(**PUBLIC)).start()
    try:
        run_id = running.call(lambda: running.engine.start("demo", "a lighthouse"))
        client = running.app.test_client()
        page = client.get(f"/runs/{run_id}").get_data(as_text=True)
        assert "Insight is off: no embedding model in" in page and "panic-edge insight fetch" in page
        data = client.get(f"/api/runs/{run_id}/insight").get_json()
        assert data["status"]["state"] == "off" and data["models"] == []
        assert "None found yet" in client.get(f"/runs/{run_id}/like").get_data(as_text=True)
    finally:
        running.stop()


def test_the_insight_api_needs_a_login_unless_the_pages_are_public(make_config):
    running = ThreadedDaemon(make_config()).start()
    try:
        client = running.app.test_client()
        assert client.get("/api/runs/x/insight").status_code == 401
        assert client.get("/runs/x/like").status_code == 302
    finally:
        running.stop()


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed")
def test_chromium_draws_the_charts_without_errors(chromium, live):
    first, run_id = runs_with_insight(live, ["a red bicycle under cherry blossom", "a red bicycle in the rain"],
                                      points=8)
    page = chromium.new_context(viewport=DESKTOP).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.goto(f"{live.url}/runs/{run_id}")
    playwright_api.expect(page.locator("#insight figure")).to_have_count(5)
    assert page.locator("#insight svg circle").count() >= 8
    assert page.locator("#insight .hops tr").count() >= 1 and errors == []
    playwright_api.expect(page.locator("#insight .similar a").first).to_have_attribute("href", f"/runs/{first}")
    page.mouse.move(0, 0)  # no tooltip in the picture
    shoot(page.locator("#insight"), "run-insight")  # the whole section, runs like this one included


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed")
def test_chromium_shows_a_long_runs_newest_points_and_pages_back(chromium, live, model_dir):
    live.call(lambda: bulk_run(live.engine.store, "long", sentences(450, seed=7)))
    model = load_embedder(model_dir)
    tracker(live.config.database_path, model).update_run("long", model, history=None)
    page = chromium.new_context(viewport=DESKTOP).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.goto(f"{live.url}/runs/long")
    pager, earlier = page.locator("#insight .model-name"), page.locator("#insight button.earlier")
    playwright_api.expect(pager).to_contain_text("steps #250–#449, 200 of 450 outputs shown")
    earlier.click()
    playwright_api.expect(pager).to_contain_text("steps #50–#449, 400 of 450 outputs shown")
    earlier.click()
    playwright_api.expect(pager).to_contain_text("steps #0–#449, 450 of 450 outputs shown")
    playwright_api.expect(earlier).to_have_count(0)
    assert errors == []
