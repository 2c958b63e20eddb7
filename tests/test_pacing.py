"""Pacing rules, pure: the wait between one invocation's end and the next call."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from panic_edge.core.catalogue import CATALOGUE
from panic_edge.core.pacing import (
    BOARD_PROMPT_SECONDS,
    BOARD_UPDATE_SECONDS,
    LIVELY,
    ORIGINAL,
    Boards,
    default_pacing,
    delay_at,
    parse_pacing,
    wait_before,
)


def test_the_original_rule_waits_1_s_then_15_s_after_ten_minutes_then_ten_minutes_after_an_hour():
    assert [delay_at(ORIGINAL, age) for age in (0, 599, 600, 3599, 3600, 10**6)] == [1, 1, 15, 15, 600, 600]


def test_a_network_of_cloud_models_defaults_to_the_original_rule_and_local_only_to_a_lively_one():
    assert default_pacing([CATALOGUE["flux-schnell"], CATALOGUE["blip-2"]]) == ORIGINAL
    assert default_pacing([CATALOGUE["local-poet"], CATALOGUE["local-painter"]]) == LIVELY
    assert delay_at(LIVELY, 0) == 0


def test_a_pacing_from_a_network_file_is_checked():
    assert parse_pacing([[0, 1], [600, 15]]) == ((0.0, 1.0), (600.0, 15.0))
    for bad, words in [([], "non-empty"), ([[5, 1]], "start at run age 0"), ([[0, -1]], "non-negative"),
                       ([[0, 1], [0, 2]], "increasing"), ([[0, 1, 2]], "pair"), ([[0, True]], "pair"),
                       ([[0, 10**9]], "a day"), ("fast", "non-empty")]:
        with pytest.raises(ValueError, match=words):
            parse_pacing(bad)


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
                    lambda inner: st.lists(inner, max_size=4), max_leaves=20))
def test_any_value_is_a_pacing_or_a_clear_value_error(value):
    try:
        pacing = parse_pacing(value)
    except ValueError as err:
        assert str(err)
    else:
        assert pacing[0][0] == 0 and all(a < b for (a, _), (b, _) in itertools.pairwise(pacing))


MODELS = {m: CATALOGUE[m] for m in ("local-poet", "local-painter", "local-captioner")}


def test_the_genesis_does_not_wait_for_pacing_but_for_a_board_showing_the_prompt():
    assert wait_before(0, 0, ORIGINAL, MODELS, None, "local-poet") == 0
    shows = Boards(online=1, shows_prompt=True)
    assert wait_before(0, 0, ORIGINAL, MODELS, None, "local-poet", shows) == BOARD_PROMPT_SECONDS
    assert wait_before(0, 0, ORIGINAL, MODELS, None, "local-poet", Boards(online=1)) == 0


def test_a_board_online_holds_each_text_output_for_eight_seconds_but_not_images():
    board = Boards(online=1)
    after_text = wait_before(1, 5, ORIGINAL, MODELS, "local-poet", "local-painter", board)
    after_image = wait_before(2, 5, ORIGINAL, MODELS, "local-painter", "local-captioner", board)
    assert (after_text, after_image) == (BOARD_UPDATE_SECONDS, 1.0)


def test_the_longest_wait_wins_not_the_sum():
    assert wait_before(5, 4000, ORIGINAL, MODELS, "local-poet", "local-painter", Boards(online=2)) == 600


def test_the_board_hold_times_are_the_installations_to_set():
    slow = Boards(online=1, shows_prompt=True, update_seconds=15, prompt_seconds=20)
    assert wait_before(0, 0, ORIGINAL, MODELS, None, "local-poet", slow) == 20
    assert wait_before(1, 5, ORIGINAL, MODELS, "local-poet", "local-painter", slow) == 15


# --- through the real daemon: a board node's presence over the real broker holds the loop ---------

import asyncio  # noqa: E402
import uuid  # noqa: E402

from panic_edge.core.media import MediaType  # noqa: E402
from panic_edge.nodes.link import NodeLink  # noqa: E402
from tests.conftest import start_daemon  # noqa: E402

PROMPT_HOLD, TEXT_HOLD = 1.0, 0.6  # [boards] prompt_seconds and update_seconds, small for the test


async def until(condition, timeout: float = 15.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


@pytest.mark.timeout(60)
async def test_a_vestaboard_online_for_the_network_holds_the_first_call_and_each_text_through_the_daemon(
        make_config):
    config = make_config(PANIC_EDGE_LOCAL_MODELS_LATENCY="0", PANIC_EDGE_BOARDS_PROMPT_SECONDS=str(PROMPT_HOLD),
                         PANIC_EDGE_BOARDS_UPDATE_SECONDS=str(TEXT_HOLD), PANIC_EDGE_PREWARM_ENABLED="false")
    running = await start_daemon(config)
    engine = running.engine
    try:
        async with NodeLink.open(config, kind="vestaboard", network="demo", mode="flagship via local",
                                 node_id=f"board-{uuid.uuid4().hex[:8]}", backfill=0, kinds=("vestaboard",),
                                 commands=("blank", "wake")) as link:
            link.set_status(shows_prompt=True)  # what `panic-edge vestaboard --show-prompt` says of itself
            await until(lambda: engine.states["demo"].boards.online == 1 and engine.states["demo"].boards.shows_prompt)
            run_id = await engine.start("demo", "a prompt for the board")
            await until(lambda: engine.states["demo"].run.sequence >= 6)
            await engine.stop("demo")
        await until(lambda: engine.states["demo"].boards.online == 0)  # the board left: nothing holds now
        steps = await engine.store.run_invocations(run_id)
    finally:
        await running.stop()
    first = steps[0]
    assert first.started_at - first.created_at >= PROMPT_HOLD - 1e-3  # the board showed the prompt first
    after_text = [nxt for prev, nxt in itertools.pairwise(steps)
                  if prev.output_type is MediaType.TEXT and nxt.started_at is not None]
    assert {1, 3, 5} <= {s.sequence for s in after_text}  # the demo: poet, painter, captioner, voice, listener
    for step in after_text:  # the demo's own pacing waits nothing in a run's first ten minutes
        assert step.started_at - step.created_at >= TEXT_HOLD - 1e-3, step.sequence
