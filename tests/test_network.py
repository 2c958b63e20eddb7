"""Network validation: a network's models must chain their types into a cycle."""

from __future__ import annotations

from pathlib import Path

import pytest

from panic_edge.core.catalogue import CATALOGUE
from panic_edge.core.network import Network, chain_errors, validate
from panic_edge.errors import ConfigError, NetworkError
from panic_edge.network_files import DEMO, load_networks, read_network

REPO = Path(__file__).resolve().parent.parent


def net(*models: str, **kw) -> Network:
    return Network(slug="n", name="N", models=models, **kw)


def test_a_text_image_loop_is_valid():
    assert chain_errors(net("flux-schnell", "blip-2"), CATALOGUE) == []


def test_a_broken_pair_is_named():
    with pytest.raises(NetworkError, match="flux-schnell outputs image but gpt-5-chat takes text"):
        validate(net("flux-schnell", "gpt-5-chat"), CATALOGUE)


def test_the_last_model_must_feed_the_first():
    assert chain_errors(net("gpt-5-chat", "flux-schnell"), CATALOGUE) == [
        "flux-schnell outputs image but gpt-5-chat takes text"]


def test_the_first_model_must_take_text():
    errors = chain_errors(net("blip-2", "flux-schnell"), CATALOGUE)
    assert errors[0] == "the first model, blip-2, takes image but a run starts from a text prompt"


def test_unknown_models_are_rejected_with_a_suggestion():
    errors = chain_errors(net("flux-schnel", "blip-2"), CATALOGUE)
    assert len(errors) == 1
    assert errors[0].startswith("unknown model 'flux-schnel'; did you mean flux-schnell")


def test_an_empty_network_is_rejected():
    assert "no models" in chain_errors(net(), CATALOGUE)[0]


def test_every_problem_is_reported_at_once():
    errors = chain_errors(net("flux-schnell", "gpt-5-chat", lockout_seconds=-1, offline_policy="panic"),
                          CATALOGUE)
    assert len(errors) == 3


def test_the_demo_uses_only_local_models_and_is_valid():
    assert chain_errors(DEMO, CATALOGUE) == []
    assert all(CATALOGUE[m].is_local for m in DEMO.models)
    assert {CATALOGUE[m].io() for m in DEMO.models} >= {"text->text", "text->image", "image->text",
                                                       "text->audio"}


def test_every_shipped_network_file_is_valid():
    loaded = load_networks(REPO / "config" / "networks", CATALOGUE)
    assert loaded.problems == {}
    assert {"demo", "rapid-fire", "cocktail-party", "finetune-friday", "rube-goldberg"} <= set(loaded.networks)
    for network in loaded.networks.values():
        assert network.description, f"{network.slug} needs a description for visitors"


def test_a_network_file_with_a_typo_names_the_file_and_key(tmp_path: Path):
    bad = tmp_path / "oops.toml"
    bad.write_text('name = "Oops"\nmodels = ["local-poet"]\nlockout_secs = 3\n')
    with pytest.raises(ConfigError, match=r"oops.toml: lockout_secs: Extra inputs are not permitted"):
        read_network(bad)


def test_an_invalid_network_is_skipped_and_reported_not_fatal(tmp_path: Path):
    (tmp_path / "broken.toml").write_text('name = "Broken"\nmodels = ["flux-schnell", "gpt-5-chat"]\n')
    (tmp_path / "fine.toml").write_text('name = "Fine"\nmodels = ["local-poet"]\n')
    loaded = load_networks(tmp_path, CATALOGUE)
    assert set(loaded.networks) == {"demo", "fine"}
    assert "flux-schnell outputs image but gpt-5-chat takes text" in loaded.problems["broken"]


# --- pacing in network files ------------------------------------------------------------------

def test_a_network_file_sets_its_pacing_and_it_round_trips(tmp_path):
    from panic_edge.network_files import network_toml, read_network

    path = tmp_path / "slow.toml"
    path.write_text('name = "Slow"\nmodels = ["local-poet"]\npacing = [[0, 1], [600, 15], [3600, 600]]\n')
    network = read_network(path)
    assert network.pacing == ((0.0, 1.0), (600.0, 15.0), (3600.0, 600.0))
    path.write_text(network_toml(network))
    assert read_network(path).pacing == network.pacing


def test_a_bad_pacing_names_the_file_and_the_problem(tmp_path):
    import pytest

    from panic_edge.errors import ConfigError
    from panic_edge.network_files import read_network

    path = tmp_path / "bad.toml"
    path.write_text('name = "Bad"\nmodels = ["local-poet"]\npacing = [[10, 1]]\n')
    with pytest.raises(ConfigError, match=r"bad.toml.*pacing.*run age 0"):
        read_network(path)
