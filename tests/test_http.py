"""The daemon's HTTP face with Flask's test client: media, status, recent invocations."""

from __future__ import annotations

import asyncio
from pathlib import Path

from flask_ui.app import Settings, create_app
from panic_edge.archive import Archive
from panic_edge.core.invocation import Invocation, InvocationState, Run
from panic_edge.core.media import Content, MediaType
from panic_edge.platforms.local import pictures
from panic_edge.store import Store


def make_app(tmp_path: Path):
    archive = Archive(tmp_path / "archive")
    content = archive.save("demo", "r1.1", pictures.paint("a fox"), MediaType.IMAGE)

    async def fill() -> None:
        async with Store.open(tmp_path / "db.sqlite3") as store:
            await store.begin_run(Run("r1", "demo", "a fox", 1.0))
            await store.add_invocation(Invocation("r1.1", "r1", "demo", 1, "local-painter",
                                                  InvocationState.READY, Content.of_text("a fox"),
                                                  MediaType.IMAGE, created_at=2.0))
            await store.complete("r1.1", content, 3.0)

    asyncio.run(fill())
    settings = Settings(tmp_path / "archive", tmp_path / "db.sqlite3", media_base="http://panic:8750",
                        status=lambda: {"appliance_id": "t"}, model_names={"local-painter": "Painter (local)"})
    return create_app(settings).test_client(), content


def test_media_is_served_inline_with_its_real_type(tmp_path: Path):
    client, content = make_app(tmp_path)
    with client.get(f"/media/{content.file}") as response:
        assert response.status_code == 200
        assert response.mimetype == "image/png" and response.headers["Content-Disposition"] == "inline"


def test_media_outside_the_archive_is_not_served(tmp_path: Path):
    client, _ = make_app(tmp_path)
    (tmp_path / "secret.txt").write_text("no")
    assert client.get("/media/../secret.txt").status_code == 404
    assert client.get("/media/demo/missing.wav").status_code == 404


def test_a_picture_retention_pruned_is_gone_with_a_calm_placeholder_in_its_place(tmp_path: Path):
    client, _ = make_app(tmp_path)
    gone = client.get("/media/demo/pruned.1.jpg")
    assert gone.status_code == 410 and gone.mimetype == "image/png"
    assert gone.data.startswith(b"\x89PNG") and "max-age" in gone.headers["Cache-Control"]


def test_recent_invocations_are_listed_with_media_urls(tmp_path: Path):
    client, content = make_app(tmp_path)
    body = client.get("/api/networks/demo/invocations?limit=4").get_json()
    [inv] = body["invocations"]
    assert inv["output"] == f"http://panic:8750/media/{content.file}"
    assert inv["model_name"] == "Painter (local)" and inv["state"] == "completed"
    assert client.get("/api/networks/demo/invocations?limit=lots").status_code == 400


def test_status_is_json(tmp_path: Path):
    client, _ = make_app(tmp_path)
    assert client.get("/api/status").get_json() == {"appliance_id": "t"}
