"""Deprecated models stay resolvable but leave the picker and `panic-edge models`; a history row
naming a model no longer in the catalogue shows an "unknown model" placeholder everywhere."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest
from pydantic import SecretStr

from flask_ui.app import Settings, create_app
from panic_edge import cli
from panic_edge.config import AdminConfig
from panic_edge.core.catalogue import CATALOGUE, describe
from panic_edge.core.installation import parse_installation
from panic_edge.core.invocation import Invocation, InvocationState, Run
from panic_edge.core.media import Content, MediaType
from panic_edge.core.network import Network, chain_errors
from panic_edge.network_files import load_networks
from panic_edge.nodes.screen.record import steps as reel_steps
from panic_edge.store import Store
from tests.admin_fixtures import HASH, Browser

GONE = "vanished-model"


def test_deprecated_models_resolve_and_can_still_run_in_an_old_network():
    assert CATALOGUE["flux-schnell"].deprecated and CATALOGUE["blip-2"].deprecated
    assert not CATALOGUE["flux-2-klein-4b"].deprecated
    assert chain_errors(Network("old", "Old", ("flux-schnell", "blip-2")), CATALOGUE) == []
    assert "flux-schnell" not in {m.id for m in CATALOGUE.active()}


def test_panic_edge_models_hides_deprecated_models_unless_asked_for_all(capsys):
    assert cli.main(["models", "--json"]) == 0
    shown = {m["id"] for m in json.loads(capsys.readouterr().out)}
    assert cli.main(["models", "--json", "--all"]) == 0
    everything = {m["id"]: m for m in json.loads(capsys.readouterr().out)}
    assert "flux-schnell" not in shown and everything["flux-schnell"]["deprecated"] is True
    assert shown == {i for i, m in everything.items() if not m["deprecated"]}
    assert cli.main(["models"]) == 0
    assert "deprecated models hidden; `panic-edge models --all` lists them" in capsys.readouterr().out


def test_an_unknown_model_gets_a_placeholder_and_a_network_naming_it_is_skipped(tmp_path: Path):
    placeholder = describe(CATALOGUE, GONE, MediaType.TEXT, MediaType.IMAGE)
    assert placeholder.label == f"Unknown model ({GONE})" and placeholder.output is MediaType.IMAGE
    (tmp_path / "old.toml").write_text(f'name = "Old"\nmodels = ["{GONE}"]\n')
    loaded = load_networks(tmp_path, CATALOGUE)
    assert "old" not in loaded.networks and f"unknown model '{GONE}'" in loaded.problems["old"]


@pytest.fixture
def app(tmp_path: Path):
    """The admin app over a database whose history names a model the catalogue no longer has."""
    db = tmp_path / "panic.db"

    async def fill() -> None:
        async with Store.open(db) as store:
            await store.begin_run(Run("run1", "old", "a camel", 1.0))
            await store.add_invocation(Invocation("run1.0", "run1", "old", 0, GONE, InvocationState.READY,
                                                  Content.of_text("a camel"), MediaType.TEXT, created_at=1.0))
            await store.complete("run1.0", Content.of_text("a dune at dusk"), 2.0, {})
            await store.add_invocation(Invocation("run1.1", "run1", "old", 1, "flux-schnell",
                                                  InvocationState.READY, Content.of_text("a dune at dusk"),
                                                  MediaType.IMAGE, created_at=2.0))
            await store.fail("run1.1", "the endpoint is gone", 3.0)
            await store.end_run("run1", "step 1 failed", 3.0)

    asyncio.run(fill())
    admin = AdminConfig(password_hash=SecretStr(HASH), public_readonly=True)
    settings = Settings(archive_dir=tmp_path / "archive", database_path=db, admin=admin,
                        networks_dir=tmp_path / "networks")
    (tmp_path / "networks").mkdir()
    (tmp_path / "networks" / "old.toml").write_text('name = "Old"\nmodels = ["flux-schnell", "blip-2"]\n')
    return create_app(settings)


def test_history_naming_an_unknown_model_shows_the_placeholder_on_every_page(app):
    client = app.test_client()
    label = f"Unknown model ({GONE})"
    for path in ("/", "/history", "/runs/run1"):
        response = client.get(path)
        assert response.status_code == 200, path
    assert label in client.get("/runs/run1").get_data(as_text=True)
    checked = client.get(f"/api/networks/check?models={GONE},flux-schnell").get_json()
    assert checked["chain"][0] == {"id": GONE, "unknown": True, "name": label}
    assert checked["chain"][1]["deprecated"] is True and not checked["runnable"]
    run = client.get("/api/runs/run1").get_json()
    steps = sorted(run["invocations"], key=lambda inv: inv["sequence"])  # a window: newest first
    assert [inv["model_name"] for inv in steps] == [label, "FLUX.1 [schnell]"]


def test_the_network_editor_offers_no_deprecated_model_but_marks_one_already_chosen(app):
    browser = Browser(app.test_client())
    assert browser.login().status_code == 302
    page = browser.get("/networks/old").get_data(as_text=True)
    offered = set(re.findall(r'<option value="([^"]+)"', page))
    assert "flux-2-klein-4b" in offered and not offered & {m.id for m in CATALOGUE.values() if m.deprecated}
    assert page.count('badge warn">deprecated') == 2  # flux-schnell and blip-2, already in the chain
    models = browser.get("/models").get_data(as_text=True)
    assert 'id="model-flux-schnell"' not in models and "deprecated models are hidden" in models
    assert 'id="model-flux-schnell"' in browser.get("/models?all=1").get_data(as_text=True)


def test_panic_edge_networks_says_which_models_of_a_network_are_deprecated(tmp_path: Path, capsys):
    (tmp_path / "old.toml").write_text('name = "Old"\nmodels = ["flux-schnell", "blip-2"]\n')
    conf = tmp_path / "c.toml"
    conf.write_text(f'networks_dir = "{tmp_path}"\n')
    assert cli.main(["networks", "--config", str(conf)]) == 0
    assert "uses deprecated models: blip-2, flux-schnell" in capsys.readouterr().out


def test_a_screens_short_url_names_the_placeholder_for_an_unknown_model(app):
    # a TV on /s/NAME draws the screen from the history as a node would: the model it names is gone
    app.config["PANIC"].installations = lambda: (parse_installation(
        {"name": "hall", "network": "old", "screens": [{"name": "tv", "kind": "grid", "rows": 1, "cols": 2}]}),)
    cells = app.test_client().get("/s/tv/cells").get_data(as_text=True)
    assert f"Unknown model ({GONE})" in cells and f">{GONE}<" not in cells


def test_the_backup_reel_names_the_placeholder_for_an_unknown_model():
    done = Invocation("run1.0", "run1", "old", 0, GONE, InvocationState.COMPLETED, Content.of_text("a camel"),
                      MediaType.TEXT, output=Content.of_text("a dune"), created_at=1.0)
    [shown] = reel_steps([done], {m.id: m.label for m in CATALOGUE.values()}, 10)
    assert shown.model_name == f"Unknown model ({GONE})"
