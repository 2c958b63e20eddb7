"""The insight HUD: the message parser under hostile input, the pure view, the renderer, and a live node."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import replace

import pygame
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from panic_edge.core.insight import Insight, PathPoint, Persistence, parse_insight
from panic_edge.core.payloads import encode
from panic_edge.errors import PayloadError
from panic_edge.nodes.feed import Grid
from panic_edge.nodes.hud import HudState
from panic_edge.nodes.screen.app import DisplayOptions, run_display
from panic_edge.nodes.screen.hud import H0, H1, LOOP, STAR, STUCK, drift_colour, layout, render_hud
from panic_edge.nodes.screen.hud_gallery import insight as made_up
from panic_edge.nodes.screen.render import BANNER, INK
from tests.conftest import start_daemon
from tests.insight_fixtures import build_model2vec


def message(**changes) -> Insight:
    return replace(made_up(), **changes)


# --- the message, parsed strictly ---------------------------------------------------------------


def test_an_insight_message_round_trips_through_its_json():
    original = made_up()
    parsed = parse_insight(encode(original.to_json()))
    assert parsed.run_id == original.run_id and parsed.flags == ("loop",) and parsed.loop_period == original.loop_period
    assert [p.sequence for p in parsed.path] == [p.sequence for p in original.path]
    assert parsed.persistence is not None and parsed.persistence.h0[0] == (0.0, None)
    assert parsed.nearest_sequence == original.nearest_sequence


@pytest.mark.parametrize("payload, problem", [
    (b"\xff\xfe", "not UTF-8"), (b"[1, 2]", "JSON object"), (b"{", "not JSON"),
    (b'{"run_id": 1}', "run_id"), (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    (json.dumps({**made_up().to_json(), "drift": float("nan")}).encode(), "NaN"),
    (json.dumps({**made_up().to_json(), "sequence": 10**30}).encode(), r"2\*\*53"),
    (b'{"a":' + b"9" * 5000 + b"}", "number too long"),  # int() refuses over 4,300 digits
    (b'{"run_id": "\\ud800"}', "lone surrogate"),
    (json.dumps({**made_up().to_json(), "point": [1]}).encode(), "[x, y]"),
    (json.dumps({**made_up().to_json(), "path": [{"sequence": 1}] * 1001}).encode(), "limit"),
    (b" " * 300_000, "limit"),
])
def test_a_malformed_message_is_a_payload_error_naming_the_problem(payload, problem):
    with pytest.raises(PayloadError, match=problem):
        parse_insight(payload)


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
                           lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
                           max_leaves=30)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=400))
def test_any_bytes_give_an_insight_or_a_payload_error(data):
    try:
        parse_insight(data)
    except PayloadError:
        pass


BASE = made_up(6).to_json()


@settings(max_examples=80, deadline=None)
@given(st.dictionaries(st.sampled_from(list(BASE)) | st.text(max_size=8), json_values, max_size=8))
def test_any_json_object_with_the_fields_scrambled_gives_an_insight_or_a_payload_error(fields):
    body = {**BASE, **fields}
    try:
        parsed = parse_insight(json.dumps(body, allow_nan=True).encode("utf-8", "surrogatepass"))
    except (PayloadError, UnicodeEncodeError):
        return
    assert isinstance(parsed.drift, float) and len(parsed.point) == 2


# --- the pure view ------------------------------------------------------------------------------


def test_the_hud_keeps_the_newest_message_and_ignores_late_or_foreign_ones():
    state = HudState("demo")
    first = message(sequence=10, path=made_up().path[:5])
    assert state.apply(first) and not state.apply(first)
    assert not state.apply(message(sequence=8)), "an older step of the same run arriving late"
    assert not state.apply(message(network="other", sequence=99))
    assert state.apply(message(sequence=12))
    newer_run = message(run_id="next", sequence=0, created_at=first.created_at + 5)
    assert state.apply(newer_run) and state.latest == newer_run
    assert not state.apply(message(run_id="old", sequence=50, created_at=first.created_at - 5))


def test_the_badge_says_stuck_or_loop_with_its_period_and_hop_colours_are_stable():
    state = HudState("demo")
    state.apply(message(flags=("loop",), loop_period=6))
    view = state.view(0.0)
    assert view.badge == "LOOP \u00b7 every 6"
    colours = dict(view.hop_colours)
    state.apply(message(flags=("stuck",), sequence=999))
    assert state.view(1.0).badge == "STUCK" and dict(state.view(1.0).hop_colours) == colours
    assert len(set(colours.values())) == len(colours)
    assert HudState("demo").view(0.0).badge is None


def test_the_recurrence_strip_marks_the_last_time_round_of_an_exact_loop():
    """Every fifth output is the same idea: the strip marks the most recent of them (one period back),
    the one the text names, not the first."""
    distances = tuple(0.0 if (74 - i) % 5 == 0 else 1.2 for i in range(74))  # to outputs 0..73 from #74
    state = HudState("demo")
    state.apply(message(recurrence=distances, nearest_sequence=69, flags=("loop",), loop_period=5))
    assert state.view(0.0).nearest_mark == 69
    noisy = tuple(d + (3e-4 if i == 69 else 0.0) for i, d in enumerate(distances))  # float noise is a tie
    state.apply(message(recurrence=noisy, sequence=state.latest.sequence + 1))
    assert state.view(0.0).nearest_mark == 69
    once = tuple(0.05 if i == 7 else 0.3 for i in range(74))  # truly nearest, long ago
    state.apply(message(recurrence=once, sequence=state.latest.sequence + 1))
    assert state.view(0.0).nearest_mark == 7


# --- drawing ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def surface():
    pygame.display.init()
    pygame.font.init()
    yield pygame.Surface((1280, 720))


def colours_in(surface: pygame.Surface, rect: pygame.Rect | None = None) -> set[tuple[int, ...]]:
    rect = rect or surface.get_rect()
    return {tuple(surface.get_at((x, y)))[:3] for x in range(rect.x, rect.right, 5) for y in range(rect.y, rect.bottom, 5)}


def pixels(surface: pygame.Surface, rect: pygame.Rect, colour: tuple[int, int, int]) -> int:
    """How many pixels of ``rect`` are exactly ``colour``."""
    rect = rect.clip(surface.get_rect())
    if not rect.width or not rect.height:
        return 0
    return pygame.mask.from_threshold(surface.subsurface(rect), colour, (1, 1, 1, 255)).count()


@pytest.mark.parametrize("shape", [(1280, 720), (420, 1080), (200, 150), (1920, 1080)])
def test_the_hud_draws_at_any_size_and_shape(surface, shape):
    """Every panel has its place inside the rectangle, none over another, and draws its part: the
    prompt's star and the newest point in the path, the drift gauge, the biggest hop, the H0 bars;
    where there is room, the recurrence strip's mark, every hop and the H1 bars too."""
    target = pygame.Surface(shape)
    state = HudState("demo")
    state.apply(made_up())
    view = state.view(0.0, "Demo")
    insight = view.insight
    assert insight is not None
    render_hud(target, target.get_rect(), view)
    parts = layout(target.get_rect())
    boxes = [parts.path, *(box for _, box in parts.panels)]
    assert all(target.get_rect().contains(box) and box.width > 0 and box.height > 0 for box in boxes)
    assert not any(a.colliderect(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    assert pixels(target, parts.path, STAR) and pixels(target, parts.path, view.colour(insight.path[-1].hop))
    assert pixels(target, parts.panel("drift"), drift_colour(insight.drift))
    assert pixels(target, parts.panel("hops"), view.colour(insight.hops[0].hop))
    assert pixels(target, parts.panel("barcode"), H0)
    if parts.unit >= 12:
        assert pixels(target, parts.panel("recurrence"), LOOP), "the strip marks the output it looped back to"
        assert all(pixels(target, parts.panel("hops"), view.colour(h.hop)) for h in insight.hops)
        assert pixels(target, parts.panel("barcode"), H1) > 2 * pixels(target, parts.panel("barcode"), STUCK) + 200


FAR = tuple(PathPoint(i, "far", 1e9 * (-1) ** i, -1e9, 2.0) for i in range(500))


def drawn_nothing(s, parts, view):
    assert not pixels(s, parts.path, STAR), "no prompt: no star"
    assert not pixels(s, parts.panel("recurrence"), LOOP), "no distances: no strip, no mark"


def one_point(s, parts, view):
    assert pixels(s, parts.path, INK), "the newest (only) point"
    assert pixels(s, parts.panel("barcode"), H0) == bars_drawn_without_persistence(), "no bars, only the legend"


def clipped(s, parts, view):
    far = view.colour("far")
    assert pixels(s, parts.path, far) and pixels(s, s.get_rect(), far) == pixels(s, parts.path, far), \
        "points a billion away are drawn at the path panel's edge, not beyond it"


def many_bars(s, parts, view):
    assert pixels(s, parts.panel("barcode"), H0) > 5 * bars_drawn_without_persistence(), "the bars that fit"


def long_strip(s, parts, view):
    assert pixels(s, parts.panel("recurrence"), LOOP), "the mark among 1,000 distances"
    assert not pixels(s, parts.path, LOOP), "the output it looped back to is not on the path: no line to it"


def bars_drawn_without_persistence() -> int:
    target = pygame.Surface((1280, 720))
    state = HudState("demo")
    state.apply(message(persistence=None))
    render_hud(target, target.get_rect(), state.view(3.0, "Demo"))
    return pixels(target, layout(target.get_rect()).panel("barcode"), H0)


@pytest.mark.parametrize("changes, check", [
    ({"path": (), "recurrence": (), "hops": (), "persistence": None, "prompt_point": None}, drawn_nothing),
    ({"path": (PathPoint(0, "x", 0.0, 0.0, 0.0),), "recurrence": (), "persistence": Persistence(1, (), ())},
     one_point),
    ({"path": FAR, "point": (1e9, 1e9)}, clipped),
    ({"persistence": Persistence(3, tuple((0.0, float(i)) for i in range(300)), ((0.5, 0.5),)), "drift": 2.0},
     many_bars),
    ({"recurrence": tuple(float(i % 3) for i in range(1000)), "nearest_sequence": 12345, "flags": ("loop",)},
     long_strip),
])
def test_the_hud_survives_odd_but_valid_messages(surface, changes, check):
    target = pygame.Surface((1280, 720))
    state = HudState("demo")
    state.apply(message(**changes))
    view = state.view(3.0, "Demo", offline_reason="The appliance is offline")
    render_hud(target, target.get_rect(), view)
    parts = layout(target.get_rect())
    assert pixels(target, parts.banner, BANNER) > parts.banner.width * parts.banner.height // 2, "the offline banner"
    check(target, parts, view)


def test_before_any_message_the_hud_says_it_is_waiting(surface):
    render_hud(surface, surface.get_rect(), HudState("demo").view(0.0, "Demo"))
    assert STAR not in colours_in(surface)


# --- a live node --------------------------------------------------------------------------------


async def test_a_grid_display_with_the_hud_draws_a_live_runs_path(make_config, tmp_path):
    pytest.importorskip("model2vec")
    config = make_config(PANIC_EDGE_INSIGHT_MODEL_DIR=str(build_model2vec(tmp_path / "tiny-m2v")))
    daemon = await start_daemon(config)
    shot = tmp_path / "hud.png"
    try:
        async with asyncio.timeout(20):
            while daemon.daemon.status()["insight"]["state"] != "on":
                await asyncio.sleep(0.05)
        await daemon.engine.start("demo", "a camel in the desert")
        await run_display(config, DisplayOptions("demo", Grid(2, 2), fullscreen=False, size=(1280, 720),
                                                 screenshot=shot, exit_after=3.0, hud=True,
                                                 node_id=f"test-hud-{uuid.uuid4().hex[:8]}"))
    finally:
        await daemon.stop()
    image = pygame.image.load(str(shot))
    panel = pygame.Rect(1280 - 486, 0, 486, 720)
    assert STAR in colours_in(image, panel), "the prompt's star: the HUD got the run's insight"
    assert len(colours_in(image, pygame.Rect(0, 0, 700, 720))) > 20, "and the grid beside it"
