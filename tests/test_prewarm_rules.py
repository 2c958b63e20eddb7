"""The pre-warming rules (core/prewarm.py), without I/O: the clock is an argument."""

from __future__ import annotations

from panic_edge.core.catalogue import CATALOGUE
from panic_edge.core.network import Network
from panic_edge.core.prewarm import WarmState, WarmTable, likely_networks, plan

COLD, WARM = CATALOGUE["molmo"], CATALOGUE["flux-schnell"]
NETS = {"gallery": Network("gallery", "Gallery", ("flux-schnell", "molmo")),
        "music": Network("music", "Music", ("magnet", "whisper")),
        "demo": Network("demo", "Demo", ("local-painter", "local-captioner"))}


def usable(model):
    return None


def test_a_cold_model_is_warm_for_a_while_after_a_call_and_a_warm_one_always():
    table = WarmTable(warm_seconds=600)
    assert table.state(COLD, 1000) is WarmState.COLD and table.state(WARM, 1000) is WarmState.WARM
    table = table.called("molmo", 1000)
    assert table.state(COLD, 1000) is WarmState.WARM and table.warm_until(COLD, 1000) == 1600
    assert table.state(COLD, 1599.9) is WarmState.WARM
    assert table.state(COLD, 1600) is WarmState.COLD and table.warm_until(COLD, 1600) is None
    assert table.warm_until(WARM, 1000) is None  # always warm: no end


def test_a_call_waiting_on_a_model_shows_it_warming_until_it_answers_or_gives_up():
    table = WarmTable().waiting("molmo", 10)
    assert table.state(COLD, 11) is WarmState.WARMING
    assert table.called("molmo", 12).state(COLD, 13) is WarmState.WARM
    failed = table.gave_up("molmo", "boom" * 200)
    assert failed.state(COLD, 13) is WarmState.COLD and len(failed.get("molmo").error or "") == 300


def test_an_older_call_reported_late_does_not_shorten_the_warmth():
    table = WarmTable(warm_seconds=600).called("molmo", 1000).called("molmo", 500)
    assert table.get("molmo").last_call == 1000


def test_likely_networks_are_the_chosen_ones_or_the_button_installations_and_runs_that_are_loaded():
    loaded = ["gallery", "music", "demo"]
    assert likely_networks(loaded, [], "demo", ["gallery", "gone"], ["gallery"]) == ["demo", "gallery"]
    assert likely_networks(loaded, ["music", "nope"], "demo", ["gallery"], []) == ["music"]
    assert likely_networks(loaded, [], "", [], []) == []


def test_the_plan_warms_each_cold_model_of_the_likely_networks_once_and_never_a_warm_one():
    decided = plan("opening", NETS, ["gallery", "music", "demo"], CATALOGUE, WarmTable(), 0, usable)
    assert decided.warm == ("molmo", "magnet") and decided.skipped == {}
    decided = plan("opening", NETS, ["demo"], CATALOGUE, WarmTable(), 0, usable)
    assert decided.warm == () and decided.skipped == {}


def test_the_plan_skips_warm_warming_recently_tried_and_unusable_models_with_the_reason():
    table = WarmTable(warm_seconds=600).called("molmo", 100).attempted("magnet", 50).gave_up("magnet", "no")
    decided = plan("opening", NETS, ["gallery", "music"], CATALOGUE, table, 200, usable)
    assert decided.warm == () and decided.skipped == {"molmo": "already warm", "magnet": "warmed a short while ago"}
    later = plan("opening", NETS, ["gallery", "music"], CATALOGUE, table, 800, lambda m: "offline")
    assert later.warm == () and later.skipped == {"molmo": "offline", "magnet": "offline"}
    assert plan("x", NETS, ["gallery"], CATALOGUE, table.waiting("molmo", 700), 800, usable).skipped == {
        "molmo": "already warming"}
    assert plan("x", NETS, ["gallery", "music"], CATALOGUE, table, 800, usable).warm == ("molmo", "magnet")


def test_a_network_naming_a_model_no_longer_in_the_catalogue_is_planned_without_it():
    nets = {"old": Network("old", "Old", ("gone-model", "molmo"))}
    assert plan("x", nets, ["old"], CATALOGUE, WarmTable(), 0, usable).warm == ("molmo",)
