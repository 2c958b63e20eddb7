"""The installations editor on the admin page and each screen's short URL, through Flask's test
client against a real daemon: add / edit / reorder / remove screens, switch network, /s/<name>."""

from __future__ import annotations

from pathlib import Path

from panic_edge.installation_files import read_installations
from tests.admin_fixtures import TOKEN, Browser
from tests.live import ThreadedDaemon
from tests.test_admin_actions import completed

BEARER = {"Authorization": f"Bearer {TOKEN}"}
NIGHT = {"name": "Night", "models": ["local-poet", "local-painter", "local-captioner"], "lockout_seconds": 0}


def form(name: str, network: str, *screens: tuple[int, dict[str, str]], previous: str = "") -> dict[str, object]:
    """The editor's fields: each screen a group s-<i>-<key>, in page order by the ``screen`` inputs."""
    fields: dict[str, object] = {"name": name, "network": network, "previous": previous,
                                 "screen": [str(i) for i, _ in screens]}
    for i, screen in screens:
        fields.update({f"s-{i}-{k}": v for k, v in screen.items()})
    return fields


LOBBY = (0, {"name": "lobby-left", "kind": "single", "stride": "3", "offset": "0", "show_invoking": "on",
             "rows": "2"})  # rows: a leftover of the page's hidden grid fields, ignored for a single screen
WALL = (1, {"name": "wall", "kind": "grid", "rows": "2", "cols": "3", "order": "sequence", "stride": "1"})


def names(live: ThreadedDaemon, installation: str = "gallery") -> list[str]:
    inst = next(i for i in live.daemon.installations.all if i.name == installation)
    return [s.name for s in inst.screens]


def test_add_reorder_and_remove_screens_then_switch_the_whole_installation(admin: Browser, live: ThreadedDaemon):
    assert "No installations yet" in admin.get("/installations").get_data(as_text=True)
    assert admin.post("/installations/save", form("gallery", "demo", LOBBY, WALL)).status_code == 302
    assert names(live) == ["lobby-left", "wall"]
    saved = read_installations(Path(live.config.data_dir) / "installations.toml")
    assert saved[0].screen("lobby-left").show_invoking and saved[0].screen("wall").order == "sequence"

    page = admin.get("/installations").get_data(as_text=True)
    assert "grid 2x3 by sequence" in page and "panic-edge display --screen wall" in page
    assert "http://localhost/s/lobby-left" in page and "Back to the config file" in page

    # a screen's settings are checked by its kind: the page says what is wrong and keeps the draft
    bad = (2, {"name": "board-1", "kind": "vestaboard", "stride": "2", "offset": "2"})
    response = admin.post("/installations/save", form("gallery", "demo", LOBBY, WALL, bad, previous="gallery"))
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert "offset 2 must be less than stride 2" in text and 'value="board-1"' in text
    assert names(live) == ["lobby-left", "wall"]

    # reorder (the page order of the screen groups) and add, then remove
    good = (2, {"name": "board-1", "kind": "vestaboard", "stride": "2", "offset": "1", "show_prompt": "on"})
    admin.post("/installations/save", form("gallery", "demo", WALL, good, LOBBY, previous="gallery"))
    assert names(live) == ["wall", "board-1", "lobby-left"]
    admin.post("/installations/save", form("gallery", "demo", WALL, LOBBY, previous="gallery"))
    assert names(live) == ["wall", "lobby-left"]

    # switch to another network: refused for one that does not exist, done for one that does
    admin.post("/installations/gallery/switch", {"network": "nowhere"})
    assert "there is no network &#39;nowhere&#39;" in admin.get("/installations").get_data(as_text=True)
    assert admin.client.put("/api/networks/night", json=NIGHT, headers=BEARER).status_code == 200
    admin.post("/installations/gallery/switch", {"network": "night"})
    assert live.daemon.installations.get("gallery").network == "night"
    assert "switched gallery to night" in admin.get("/installations").get_data(as_text=True)

    # back to the config file's (none here), and the retained installation is cleared
    admin.post("/installations/use-config", {})
    assert live.daemon.installations.all == () and not (Path(live.config.data_dir) / "installations.toml").exists()


def test_a_visitor_cannot_edit_installations(browser: Browser, live: ThreadedDaemon):
    assert browser.post("/installations/save", form("gallery", "demo", LOBBY)).status_code == 302  # to login
    assert browser.client.put("/api/installations/gallery", json={"network": "demo"}).status_code == 401
    assert live.daemon.installations.all == ()


def test_the_json_api_edits_and_switches_installations(browser: Browser, live: ThreadedDaemon):
    client = browser.client
    body = {"network": "demo", "screens": [{"name": "wall", "kind": "grid", "rows": 1, "cols": 2}]}
    assert client.put("/api/installations/gallery", json=body, headers=BEARER).status_code == 200
    bad = client.put("/api/installations/gallery", json={"network": "demo", "screens": [
        {"name": "wall", "kind": "grid", "stride": 2}]}, headers=BEARER)
    assert bad.status_code == 400 and "stride is not a setting of a grid screen" in bad.get_json()["error"]
    assert client.post("/api/installations/gallery/switch", json={"network": "elsewhere"},
                       headers=BEARER).status_code == 409
    listed = client.get("/api/installations", headers=BEARER).get_json()["installations"]
    assert listed == [{"name": "gallery", "network": "demo", "screens": [
        {"name": "wall", "kind": "grid", "rows": 1, "cols": 2, "order": "newest", "qr": ""}]}]
    assert client.delete("/api/installations/gallery", headers=BEARER).status_code == 200
    assert client.get("/api/installations", headers=BEARER).get_json()["installations"] == []


def test_every_screen_has_a_short_url_a_tv_can_open_without_logging_in(admin: Browser, live: ThreadedDaemon):
    board = (2, {"name": "board-1", "kind": "vestaboard", "stride": "1", "offset": "0"})
    admin.post("/installations/save", form("gallery", "demo", LOBBY, WALL, board))
    run_id = live.call(lambda: live.engine.start("demo", "a lighthouse in a storm"))
    completed(live, run_id, 7)
    live.call(lambda: live.engine.stop("demo"))
    tv = live.app.test_client()  # no login: a TV's browser
    page = tv.get("/s/wall").get_data(as_text=True)
    assert 'class="cells rows-2 cols-3"' in page and "screen.js" in page and "<script>" not in page
    cells = tv.get("/s/wall/cells").get_data(as_text=True)
    assert cells.count('<div class="cell') == 6 and "#6 " in cells and "#0 " not in cells  # 6 overwrote 0
    assert 'src="/media/demo/' in cells  # relative: it works from any machine on the LAN
    lobby = tv.get("/s/lobby-left/cells").get_data(as_text=True)
    assert lobby.count('<div class="cell') == 1
    about = tv.get("/s/board-1").get_data(as_text=True)
    assert "panic-edge vestaboard --screen board-1" in about and "not running" in about
    assert tv.get("/s/board-1/cells").status_code == 404 and tv.get("/s/nowhere").status_code == 404
