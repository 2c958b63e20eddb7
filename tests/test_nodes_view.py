"""The pure view model of display nodes: parsing, idempotent merging, grid and single selection."""

from __future__ import annotations

import pytest

from panic_edge.errors import PayloadError
from panic_edge.nodes.feed import Feed, Grid, Single, parse_grid
from panic_edge.nodes.messages import (
    Appliance,
    Connection,
    Reply,
    parse_invocation,
    parse_network_state,
    parse_status,
)
from panic_edge.nodes.view import NodeState
from tests.nodes_helpers import encoded, shown


def ids(cells):
    return [c.id if c else None for c in cells]


def test_a_grid_shows_the_most_recent_invocations_newest_first_filling_every_cell():
    feed = Feed("demo")
    feed.apply_all(shown(s, run="old", created=100 + s) for s in range(10))
    feed.apply_all(shown(s, run="new", created=200 + s) for s in range(3))
    cells = Grid(4, 4).select(feed)
    assert len(cells) == 16
    assert ids(cells)[:5] == ["new.2", "new.1", "new.0", "old.9", "old.8"]
    assert ids(cells)[11:] == ["old.1", "old.0", None, None, None]


def test_a_single_screen_shows_the_latest_finished_invocation_of_its_offset():
    feed = Feed("demo")
    feed.apply_all(shown(s) for s in range(7))
    feed.apply(shown(7, "invoking"))
    assert ids(Single(offset=1, stride=3).select(feed)) == ["r1.4"]  # 7 is still running
    assert ids(Single(offset=1, stride=3, show_invoking=True).select(feed)) == ["r1.7"]
    assert ids(Single(offset=2, stride=3).select(feed)) == ["r1.5"]
    assert ids(Single(offset=0, stride=1).select(feed)) == ["r1.6"]


def test_the_genesis_shows_at_once_on_every_single_screen_whatever_its_offset():
    feed = Feed("demo")
    feed.apply_all(shown(s, run="old", created=100 + s) for s in range(9))
    screens = [Single(offset=k, stride=3) for k in range(3)] + [Single(offset=2, stride=3, show_invoking=True)]
    assert [ids(s.select(feed)) for s in screens] == [["old.6"], ["old.7"], ["old.8"], ["old.8"]]
    feed.apply(shown(0, "invoking", run="new", created=200))  # a run starts: all reset to its genesis
    assert [ids(s.select(feed)) for s in screens] == [["new.0"]] * 4
    feed.apply(shown(0, run="new", created=200))
    feed.apply(shown(1, "invoking", run="new", created=201))
    assert [ids(s.select(feed)) for s in screens] == [["new.0"], ["new.0"], ["new.0"], ["new.0"]]
    feed.apply(shown(1, run="new", created=201))
    feed.apply(shown(2, "invoking", run="new", created=202))
    # each screen takes over with its own step; the one showing invoking at once
    assert [ids(s.select(feed)) for s in screens] == [["new.0"], ["new.1"], ["new.0"], ["new.2"]]


def test_invocations_of_an_older_run_are_ignored_once_a_new_run_began():
    feed = Feed("demo")
    feed.apply_all(shown(s, run="old", created=100 + s) for s in range(5))
    feed.apply(shown(0, run="new", created=200))
    feed.apply(shown(5, run="old", created=105))  # late: the old run's last step, delivered again
    assert ids(Single(offset=2, stride=3).select(feed)) == ["new.0"]
    assert ids(Grid(1, 3, "sequence").select(feed)) == ["new.0", None, None]
    assert ids(Grid(1, 3).select(feed)) == ["new.0", "old.5", "old.4"]  # newest first spans runs


def test_a_grid_by_sequence_puts_each_step_in_slot_seq_mod_cells_and_overwrites_in_order():
    feed = Feed("demo")
    grid = Grid(2, 2, "sequence")
    feed.apply_all(shown(s) for s in range(3))
    assert ids(grid.select(feed)) == ["r1.0", "r1.1", "r1.2", None]
    feed.apply_all(shown(s) for s in range(3, 6))
    feed.apply(shown(6, "invoking"))
    assert ids(grid.select(feed)) == ["r1.4", "r1.5", "r1.6", "r1.3"]
    assert grid.select(feed)[2].state == "invoking" and grid.describe() == "grid 2x2 by sequence"
    assert Grid(2, 2).describe() == "grid 2x2"  # newest first stays the default
    with pytest.raises(ValueError, match="newest or sequence"):
        Grid(2, 2, "diagonal")


def test_a_message_seen_twice_or_an_older_state_arriving_late_changes_nothing():
    feed = Feed("demo")
    assert feed.apply(shown(0, "ready"))
    assert feed.apply(shown(0, "completed"))
    assert not feed.apply(shown(0, "completed"))  # QoS 1 redelivery
    assert not feed.apply(shown(0, "invoking"))  # a backfill older than the live stream
    assert feed.get("r1.0").state == "completed"


def test_cancelled_invocations_are_not_shown_but_real_failures_are():
    feed = Feed("demo")
    feed.apply(shown(0))
    feed.apply(shown(1, "failed", error="cancelled: stopped"))
    feed.apply(shown(2, "failed", error="platform timed out"))
    assert ids(Grid(1, 3).select(feed)) == ["r1.2", "r1.0", None]


def test_the_feed_keeps_only_its_capacity_of_the_newest():
    feed = Feed("demo", capacity=5)
    feed.apply_all(shown(s) for s in range(20))
    assert len(feed) == 5 and ids(feed.newest_first())[-1] == "r1.15"
    assert not feed.apply(shown(3))  # too old to matter


def test_other_networks_are_ignored():
    assert not Feed("demo").apply(shown(0, network="other"))


@pytest.mark.parametrize("payload, says", [
    (b"\xff\xfe", "not UTF-8"), (b"{", "not JSON"), (b"[1]", "JSON object"),
    (encoded(0, "exploded"), "unknown state"),
    (b'{"id": "x", "state": "ready", "output_type": "text", "sequence": "3"}', '"sequence" as int'),
    (encoded(0, output_type="smell"), "output_type"), (encoded(0, flags="nsfw"), "flags"),
    (b'{"id": "x"}', '"state"'), (b"x" * 70_000, "limit")])
def test_malformed_invocations_raise_a_payload_error_saying_what_is_wrong(payload, says):
    with pytest.raises(PayloadError, match=says):
        parse_invocation(payload)


def test_the_api_list_items_parse_like_bus_messages():
    from tests.nodes_helpers import message

    assert parse_invocation(message(3)) == parse_invocation(encoded(3))


def test_parse_grid_reads_rows_by_cols_and_rejects_nonsense():
    assert parse_grid("4x3") == Grid(4, 3)
    for bad in ("4", "x3", "0x2", "4by4", "99x1"):
        with pytest.raises(ValueError):
            parse_grid(bad)


def test_single_needs_an_offset_below_the_stride():
    with pytest.raises(ValueError, match="offset < stride"):
        Single(offset=3, stride=3)


def test_an_offline_banner_shows_when_the_broker_or_the_appliance_is_away():
    node = NodeState("demo", Grid(1, 1))
    assert node.view(0).offline_reason is not None  # not connected yet
    node.apply(Connection(True), 0)
    node.apply(Appliance(True), 0)
    assert node.view(0).offline_reason is None
    node.apply(Appliance(False), 0)
    assert "appliance is offline" in (node.view(0).offline_reason or "")
    node.apply(Appliance(True), 0)
    node.apply(Connection(False), 0)
    assert "broker" in (node.view(0).offline_reason or "")


def test_an_idle_reachable_network_attracts_visitors_and_a_running_one_does_not():
    node = NodeState("demo", Grid(1, 1))
    node.apply(Connection(True), 0)
    node.apply(Appliance(True), 0)
    node.apply(parse_network_state(b'{"network": "demo", "state": "idle"}'), 0)
    assert node.view(0).attract
    node.apply(parse_network_state(b'{"network": "demo", "state": "running", "run_id": "r", '
                                   b'"sequence": 0, "model": "m", "lockout_until": 10}'), 0)
    assert not node.view(0).attract and node.view(0).lockout_until == 10


def test_a_refused_start_shows_the_lockout_countdown_until_it_runs_out():
    node = NodeState("demo", Single(), terminal=True)
    node.typed("a camel")
    assert node.submit("req-1") == "a camel" and node.prompt == ""
    assert not node.apply(Reply("start", "someone-else", False, "locked", 30), now=100)
    assert node.apply(Reply("start", "req-1", False, "network 'demo' is locked", 30), now=100)
    assert node.view(110).notice == "locked" and node.view(110).lockout_left() == 20
    assert node.view(131).notice is None


def test_the_qr_code_points_at_the_networks_about_page_when_asked_for():
    node = NodeState("demo", Single(), show_qr=True)
    node.apply(parse_status(b'{"networks": {"demo": {"name": "Demo", "about_url": "https://x/about"}}}'), 0)
    view = node.view(0)
    assert view.about_url == "https://x/about" and view.network_name == "Demo"
    assert NodeState("demo", Single()).view(0).about_url is None
