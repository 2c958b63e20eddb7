"""What the admin page does, through Flask's test client against a real daemon: run control,
restarts, the networks editor, history, backups and the live event stream (over real HTTP)."""

from __future__ import annotations

import asyncio
import io
import sqlite3
from pathlib import Path

import httpx

from panic_edge.core.invocation import InvocationState
from panic_edge.core.network import DEFAULT_SAFETY_PROMPT
from tests.admin_fixtures import TOKEN, Browser
from tests.live import ThreadedDaemon


def completed(live: ThreadedDaemon, run_id: str, at_least: int) -> list:
    """Wait until ``run_id`` has ``at_least`` completed invocations; return them all."""
    found: list = []

    def enough() -> bool:
        return len([i for i in found if i.state is InvocationState.COMPLETED]) >= at_least

    async def poll() -> None:
        nonlocal found
        while True:
            found = await live.engine.store.run_invocations(run_id)
            if enough():
                return
            await asyncio.sleep(0.02)

    live.call(lambda: asyncio.wait_for(poll(), 10), 12)
    return found


def test_start_from_the_page_starts_a_run_and_the_dashboard_shows_it(admin: Browser, live: ThreadedDaemon):
    response = admin.post("/run/start", {"network": "demo", "prompt": "a fox in the snow"})
    assert response.status_code == 302
    run = live.engine.states["demo"].run
    assert run is not None
    completed(live, run.run_id, 1)
    page = admin.get("/").get_data(as_text=True)
    assert "started demo" in page and 'class="badge running"' in page and f'data-id="{run.run_id}.0"' in page


def test_start_from_the_page_replaces_a_run_in_progress_despite_the_lockout(admin: Browser, live):
    admin.post("/run/start", {"network": "demo", "prompt": "first"})
    first = live.engine.states["demo"].run.run_id
    admin.post("/run/start", {"network": "demo", "prompt": "second"})
    second = live.engine.states["demo"].run.run_id
    assert second != first
    assert live.call(lambda: live.engine.store.get_run(first)).end_reason == "replaced from the admin page"


def test_an_empty_prompt_is_refused_with_a_message(admin: Browser, live):
    admin.post("/run/start", {"network": "demo", "prompt": "   "})
    assert "the prompt is empty" in admin.get("/").get_data(as_text=True)
    assert live.engine.states["demo"].phase == "idle"


def test_stop_and_stop_all_end_the_run(admin: Browser, live):
    admin.post("/run/start", {"network": "demo", "prompt": "stop me"})
    admin.post("/run/stop", {"network": "demo"})
    assert live.engine.states["demo"].phase == "idle"
    admin.post("/run/start", {"network": "demo", "prompt": "stop us all"})
    admin.post("/run/stop-all")
    assert live.engine.states["demo"].phase == "idle"
    assert "stopped demo" in admin.get("/").get_data(as_text=True)


def test_restart_from_a_text_output_uses_that_text_as_the_prompt(admin: Browser, live):
    admin.post("/run/start", {"network": "demo", "prompt": "a lighthouse"})
    run_id = live.engine.states["demo"].run.run_id
    invs = completed(live, run_id, 1)
    verse = invs[0].output.text
    admin.post("/run/restart", {"invocation": invs[0].id})
    new_run = live.engine.states["demo"].run.run_id
    assert new_run != run_id
    assert live.call(lambda: live.engine.store.get_run(new_run)).prompt == verse


def test_restart_from_a_picture_uses_the_text_it_was_painted_from(admin: Browser, live):
    admin.post("/run/start", {"network": "demo", "prompt": "a red bicycle"})
    run_id = live.engine.states["demo"].run.run_id
    invs = completed(live, run_id, 2)
    painting = invs[1]
    assert painting.output.file and painting.input.text
    body = admin.client.post(f"/api/invocations/{painting.id}/restart",
                             headers={"Authorization": f"Bearer {TOKEN}"}).get_json()
    assert body["prompt"] == painting.input.text
    assert live.call(lambda: live.engine.store.get_run(body["run_id"])).prompt == painting.input.text


def test_the_history_shows_each_output_inline_with_time_and_cost(admin: Browser, live):
    admin.post("/run/start", {"network": "demo", "prompt": "a **bold** camel"})
    run_id = live.engine.states["demo"].run.run_id
    completed(live, run_id, 4)
    admin.post("/run/stop-all")
    history = admin.get("/history").get_data(as_text=True)
    assert f"/runs/{run_id}" in history and "a **bold** camel" in history
    page = admin.get(f"/runs/{run_id}").get_data(as_text=True)
    assert '<img src="/media/demo/' in page and '<audio controls' in page
    assert 'class="md"' in page and "Restart from here" in page
    assert "cancelled: stopped" in page  # the invocation in flight when it was stopped
    assert admin.get("/runs/nope").status_code == 404


def test_the_models_page_lists_the_catalogue_with_credentials(admin: Browser):
    page = admin.get("/models").get_data(as_text=True)
    assert "Drift Poet (local)" in page and "text → text" in page and "ready" in page
    assert "no credentials" in page  # the cloud platforms are not configured here


def test_a_new_network_is_saved_loaded_and_runnable(admin: Browser, live, networks_dir: Path):
    form = {"slug": "night", "is_new": "1", "name": "Night shift", "prompts": "owls\nmoths",
            "models": ["local-painter", "local-captioner"], "lockout_seconds": "7", "offline_policy": "stop"}
    response = admin.post("/networks/save", form)
    assert response.status_code == 302 and response.location == "/networks/night"
    assert (networks_dir / "night.toml").is_file()
    net = live.engine.networks["night"]
    assert net.models == ("local-painter", "local-captioner") and net.prompts == ("owls", "moths")
    assert net.safety_prompt == DEFAULT_SAFETY_PROMPT  # the form left out: the default
    admin.post("/networks/save", {**form, "is_new": "0", "safety_prompt": ""})  # empty: a choice, kept
    assert live.engine.networks["night"].safety_prompt == ""
    assert 'safety_prompt = ""' in (networks_dir / "night.toml").read_text()
    page = admin.get("/networks/night").get_data(as_text=True)
    assert ">saved<" in page and ">runnable<" in page and ">idle<" in page
    assert "night" in admin.client.get("/api/status").get_json()["networks"]


def test_a_network_that_cannot_run_is_saved_but_not_loaded(admin: Browser, live, networks_dir: Path):
    form = {"slug": "broken", "is_new": "1", "name": "Broken", "models": ["local-painter"]}
    admin.post("/networks/save", form)
    assert (networks_dir / "broken.toml").is_file() and "broken" not in live.engine.networks
    page = admin.get("/networks/broken").get_data(as_text=True)
    assert ">not runnable<" in page and "local-painter outputs image but local-painter takes text" in page


def test_a_running_network_cannot_be_changed_or_deleted(admin: Browser, live, networks_dir: Path):
    admin.post("/networks/save", {"slug": "night", "is_new": "1", "name": "Night", "models": ["local-poet"]})
    admin.post("/run/start", {"network": "night", "prompt": "go"})
    refused = admin.post("/networks/save", {"slug": "night", "name": "Renamed", "models": ["local-poet"]})
    assert refused.status_code == 400 and "stop it before changing it" in refused.get_data(as_text=True)
    assert live.engine.networks["night"].name == "Night"
    admin.post("/networks/night/delete")
    assert (networks_dir / "night.toml").is_file() and "night" in live.engine.networks
    admin.post("/run/stop", {"network": "night"})
    admin.post("/networks/night/delete")
    assert not (networks_dir / "night.toml").exists() and "night" not in live.engine.networks


def test_bad_fields_are_shown_back_with_nothing_saved(admin: Browser, networks_dir: Path):
    response = admin.post("/networks/save", {"slug": "Bad Slug!", "is_new": "1", "name": "x",
                                             "models": ["local-poet"]})
    assert response.status_code == 400 and "lowercase letters" in response.get_data(as_text=True)
    response = admin.post("/networks/save", {"slug": "demo", "is_new": "1", "name": "x", "models": ["local-poet"]})
    assert response.status_code == 400 and "already exists" in response.get_data(as_text=True)
    assert list(networks_dir.iterdir()) == []


def test_the_chain_check_names_each_broken_link(admin: Browser):
    body = admin.get("/api/networks/check?models=local-poet,local-captioner,nope").get_json()
    assert not body["runnable"]
    assert any("nope" in p for p in body["problems"])
    ok = admin.get("/api/networks/check?models=local-painter,local-captioner").get_json()
    assert ok == {"runnable": True, "problems": [], "chain": ok["chain"]}
    assert [c["output"] for c in ok["chain"]] == ["image", "text"]


def test_networks_can_be_managed_over_the_api(browser: Browser, live, networks_dir: Path):
    auth = {"Authorization": f"Bearer {TOKEN}"}
    put = browser.client.put("/api/networks/loop", json={"name": "Loop", "models": ["local-poet"]}, headers=auth)
    assert put.get_json() == {"ok": True, "slug": "loop", "saved": True, "runnable": True, "problems": []}
    listed = {n["slug"]: n for n in browser.client.get("/api/networks", headers=auth).get_json()["networks"]}
    assert listed["loop"]["loaded"] and listed["demo"]["saved"] is False
    bad = browser.client.put("/api/networks/loop", json={"models": []}, headers=auth)
    assert bad.status_code == 400 and "name" in bad.get_json()["error"]
    assert browser.client.delete("/api/networks/loop", headers=auth).get_json()["deleted"]
    gone = browser.client.delete("/api/networks/loop", headers=auth)
    assert gone.status_code == 409 and "no network file" in gone.get_json()["error"]


def test_a_backup_downloads_while_running_and_restores(admin: Browser, live, tmp_path: Path):
    admin.post("/run/start", {"network": "demo", "prompt": "keep me"})
    kept_run = live.engine.states["demo"].run.run_id
    completed(live, kept_run, 2)
    response = admin.get("/backups/download")
    assert response.status_code == 200 and response.data[:16] == b"SQLite format 3\x00"
    assert "attachment" in response.headers["Content-Disposition"]
    snapshot = tmp_path / "snap.sqlite3"
    snapshot.write_bytes(response.data)
    assert sqlite3.connect(snapshot).execute("SELECT prompt FROM runs").fetchall() == [("keep me",)]

    refused = admin.post("/backups/restore", {"backup": (io.BytesIO(response.data), "b.sqlite3")},
                         content_type="multipart/form-data")
    assert refused.status_code == 302
    assert "stop all before restoring" in admin.get("/backups").get_data(as_text=True)

    admin.post("/run/stop-all")
    admin.post("/run/start", {"network": "demo", "prompt": "forget me"})
    admin.post("/run/stop-all")
    admin.post("/backups/restore", {"backup": (io.BytesIO(response.data), "b.sqlite3")},
               content_type="multipart/form-data")
    assert "restored 1 runs" in admin.get("/backups").get_data(as_text=True)
    prompts = [r.prompt for r in live.call(live.engine.store.runs)]
    assert prompts == ["keep me"]  # the live store sees the restored database


def test_a_file_that_is_not_a_backup_is_refused_and_nothing_changes(admin: Browser, live):
    admin.post("/run/start", {"network": "demo", "prompt": "still here"})
    admin.post("/run/stop-all")
    admin.post("/backups/restore", {"backup": (io.BytesIO(b"not a database at all"), "x.sqlite3")},
               content_type="multipart/form-data")
    assert "nothing was changed: the file is not an SQLite database" in admin.get("/backups").get_data(as_text=True)
    assert [r.prompt for r in live.call(live.engine.store.runs)] == ["still here"]


def test_the_event_stream_sends_status_then_each_invocation_live(admin: Browser, live):
    cookie = admin.client.get_cookie("panic_admin")
    with (httpx.Client(base_url=live.url, cookies={"panic_admin": cookie.value}, timeout=10) as http,
          http.stream("GET", "/events") as stream):
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.iter_lines()
        assert next(line for line in lines if line.startswith("event:")) == "event: status"
        run_id = live.call(lambda: live.engine.start("demo", "live please"))
        seen = []
        for line in lines:
            if line.startswith("data:") and run_id in line:
                seen.append(line)
                if '"state":"completed"' in line.replace(" ", ""):
                    break
        assert any('"/media/' in s or '"output": "' in s for s in seen)


def test_a_backup_carrying_a_trigger_is_refused_and_nothing_changes(admin: Browser, live, tmp_path: Path):
    from tests.test_backup_hostile import crafted

    bad = crafted(tmp_path, "CREATE TRIGGER rewrite AFTER UPDATE ON invocations BEGIN "
                            "UPDATE invocations SET output_text = 'pwned'; END")
    admin.post("/backups/restore", {"backup": (io.BytesIO(bad.read_bytes()), "b.sqlite3")},
               content_type="multipart/form-data")
    page = admin.get("/backups").get_data(as_text=True)
    assert "nothing was changed" in page and "unexpected trigger &#39;rewrite&#39;" in page
    conn = sqlite3.connect(live.config.database_path)
    assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'rewrite'").fetchone() == (0,)
    conn.close()
