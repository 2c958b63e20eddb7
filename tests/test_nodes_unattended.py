"""What the screens show of a gallery's day: opening hours, the paced wait, a held run, pruned files."""

from __future__ import annotations

import json

import pygame
import pytest
from hypothesis import given
from hypothesis import strategies as st

from panic_edge.errors import PayloadError
from panic_edge.nodes.feed import Single
from panic_edge.nodes.gate import BUDGET_WORDS
from panic_edge.nodes.messages import parse_network_state, parse_status
from panic_edge.nodes.screen.gallery import NOW, samples, views
from panic_edge.nodes.screen.media import MediaCache
from panic_edge.nodes.screen.render import clock_text, render
from panic_edge.nodes.view import NodeState


def state_message(**fields: object) -> bytes:
    return json.dumps({"network": "demo", "state": "running", "run_id": "r", "sequence": 3, **fields}).encode()


def test_the_network_state_carries_the_paced_wait_and_why_a_run_is_held():
    state = parse_network_state(state_message(next_invocation_at=NOW + 30, held_reason="budget",
                                              pause="today's budget is spent"))
    assert (state.next_invocation_at, state.held_reason, state.pause) == (NOW + 30, "budget", "today's budget is spent")


@given(st.one_of(st.none(), st.integers(-5, 5), st.text(max_size=5), st.lists(st.integers(), max_size=2)),
       st.one_of(st.none(), st.text(max_size=400), st.integers()))
def test_odd_held_reasons_and_pauses_are_ignored_not_trusted(held, pause):
    try:
        state = parse_network_state(state_message(held_reason=held, pause=pause))
    except PayloadError as err:  # refused whole at the edge (a number too large for JSON's doubles)
        assert "2**53" in str(err)
        return
    assert state.held_reason in (None, "closed", "budget", "offline")
    assert state.pause is None or (isinstance(state.pause, str) and len(state.pause) <= 300)


def node(status: dict[str, object] | None = None, **network_state: object) -> NodeState:
    state = NodeState("demo", Single(show_invoking=True))
    state.apply(parse_network_state(state_message(**network_state)), NOW)
    body = {"networks": {"demo": {"name": "Demo"}}, "media_base": "http://x", **(status or {})}
    state.apply(parse_status(json.dumps(body).encode()), NOW)
    state.appliance_online, state.broker_online = True, True
    return state


def test_outside_the_opening_hours_a_screen_says_when_it_opens_and_invites_no_one():
    view = node({"open": False, "opens_at": "Fri 10:00"}, state="idle").view(NOW)
    assert view.closed == "opens Fri 10:00" and not view.attract
    assert node({"open": True}, state="idle").view(NOW).attract


DOLLARS = "network demo's daily budget of $1.00 is spent ($1.02 today); it resets at midnight"


def test_when_the_days_budget_is_spent_an_idle_screen_says_so_calmly_and_invites_no_one():
    # budget policy "stop" (the run ended) or an idle network while the cap is spent: no run can start
    view = node({"open": True}, state="idle", run_id=None, sequence=None, gate="budget", pause=DOLLARS).view(NOW)
    assert view.budget == BUDGET_WORDS and not view.attract and view.closed is None
    assert "$" not in view.budget  # the daemon's dollars are for the admin page, not the visitors
    held = node({"open": True}, held_reason="budget", gate="budget", pause=DOLLARS).view(NOW)  # policy "pause"
    assert held.budget == BUDGET_WORDS and held.running


def test_the_networks_gate_closes_a_screen_even_before_the_status_says_so():
    view = node({"open": True}, state="idle", gate="closed").view(NOW)
    assert view.closed == "closed for now" and not view.attract
    assert node({"open": False, "opens_at": "Fri 10:00"}, state="idle", gate="budget").view(NOW).closed == "opens Fri 10:00"
    assert node({"open": True}, state="idle", gate="offline").view(NOW).budget is None  # the banner's business


def test_the_budget_screen_is_dark_still_and_says_when_it_opens_again():
    pygame.init()
    media, pages = views()
    spent, size = pages["budget-spent"]
    assert spent.budget and not spent.attract
    first, later = pygame.Surface(size), pygame.Surface(size)
    render(first, spent, media)
    from dataclasses import replace

    render(later, replace(spent, now=spent.now + 0.7), media)
    assert pygame.image.tobytes(first, "RGB") == pygame.image.tobytes(later, "RGB")  # not the pulsing attract
    attract = pygame.Surface(size)
    render(attract, replace(spent, budget=None), media)
    assert pygame.image.tobytes(first, "RGB") != pygame.image.tobytes(attract, "RGB")


def test_a_held_run_says_why_only_for_the_budget_and_the_hours():
    assert node(held_reason="budget", pause="spent").view(NOW).pause == "spent"
    assert node(held_reason="offline", pause="the internet is away").view(NOW).pause is None  # the banner says it


def test_countdowns_read_as_people_read_them():
    assert [clock_text(s) for s in (0.2, 14, 487, 3725)] == ["1 s", "14 s", "8 min 07 s", "1 h 02 min"]


def test_a_pruned_output_is_drawn_as_a_calm_card_and_never_fetched():
    pygame.init()
    media = MediaCache()
    shown = samples(media)["pruned"]
    media = MediaCache()  # nothing cached: a fetch would be wanted if the renderer asked for the file
    _, pages = views()
    view, size = pages["single-pruned"]
    surface = pygame.Surface(size)
    render(surface, view, media)
    assert shown.output is not None and not media._wanted  # the renderer asked for no file
    assert len({tuple(surface.get_at((x, y)))[:3] for x in range(0, size[0], 9) for y in range(0, size[1], 9)}) > 5


def test_the_closed_screen_is_dark_and_still():
    pygame.init()
    media, pages = views()
    closed, size = pages["closed"]
    first, later = pygame.Surface(size), pygame.Surface(size)
    render(first, closed, media)
    from dataclasses import replace

    render(later, replace(closed, now=closed.now + 0.7), media)
    assert pygame.image.tobytes(first, "RGB") == pygame.image.tobytes(later, "RGB")  # no animation
    mean = sum(first.get_at((x, y))[0] for x in range(0, size[0], 31) for y in range(0, size[1], 31))
    assert mean / ((size[0] // 31 + 1) * (size[1] // 31 + 1)) < 60  # a dark room, not a bright attract


async def test_a_node_reports_its_own_machines_health_in_its_status(config, probe):
    import asyncio
    import uuid

    from panic_edge.nodes.link import NodeLink

    node_id = f"test-health-{uuid.uuid4().hex[:8]}"
    async with NodeLink.open(config, kind="display", network="demo", mode="single", node_id=node_id):
        status = await asyncio.to_thread(
            probe.wait_for, lambda t, b: t.endswith(f"nodes/{node_id}/status") and isinstance(b, dict)
            and isinstance(b.get("health"), dict))
    health = status["health"]
    assert health["disk_free_bytes"] > 0 and health["memory_available_bytes"] > 0
    assert set(health) >= {"cpu_temp_c", "throttled", "load", "warnings", "archive_bytes"}


async def test_a_screen_runs_its_power_commands_once_per_opening_and_closing(tmp_path):
    import asyncio

    from panic_edge.nodes.power import ScreenPower

    log = tmp_path / "power.log"
    power = ScreenPower(f"echo off >> {log}", f"echo on >> {log}")
    power.seen(False)  # started while open: the screen is left as it is
    power.seen(True)
    assert power._task is not None
    await asyncio.wait_for(power._task, 5)
    power.seen(True)  # no change: nothing runs
    power.seen(False)
    assert power._task is not None
    await asyncio.wait_for(power._task, 5)
    assert log.read_text().split() == ["off", "on"]


@pytest.mark.allow_errors
async def test_a_power_command_that_hangs_or_fails_is_given_up_on_not_waited_for(caplog):
    from panic_edge.nodes import power

    assert not await power.run("sleep 5", timeout=0.2)
    assert not await power.run("exit 3")
    assert sum("screen power" in r.getMessage() for r in caplog.records) == 2
