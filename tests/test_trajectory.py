"""The pure metrics of a run's path, on made-up vectors: no model, no database."""

from __future__ import annotations

import math

import numpy as np
import pytest

from panic_edge.core import trajectory as tj
from panic_edge.core.insight import hop_steps
from panic_edge.core.persistence import distance_matrix, persistence, rips


def unit(*values: float) -> np.ndarray:
    v = np.array(values, dtype=np.float64)
    return (v / np.linalg.norm(v)).astype(np.float32)


def circle(n: int, dim: int = 4, radius: float = 1.0) -> np.ndarray:
    """n unit vectors on a circle (in the first two coordinates, lifted off the origin)."""
    angles = np.linspace(0, 2 * np.pi, n, endpoint=False)
    raw = np.zeros((n, dim))
    raw[:, 0], raw[:, 1], raw[:, 2] = radius * np.cos(angles), radius * np.sin(angles), 1.0
    return tj.unit_rows(raw)[0]


def test_distance_between_unit_vectors_is_zero_for_the_same_and_root_two_for_unrelated():
    a, b = unit(1, 0, 0), unit(0, 1, 0)
    assert tj.distance(a, a) == pytest.approx(0.0, abs=1e-6)
    assert tj.distance(a, b) == pytest.approx(math.sqrt(2), abs=1e-6)
    assert tj.distance(a, -a) == pytest.approx(2.0, abs=1e-6)


def test_unit_rows_normalise_and_mask_rows_without_a_direction():
    rows, ok = tj.unit_rows(np.array([[3.0, 4.0], [0.0, 0.0], [np.nan, 1.0]]))
    assert rows.dtype == np.float32 and ok.tolist() == [True, False, False]
    assert np.allclose(rows[0], [0.6, 0.8]) and not rows[1].any() and not rows[2].any()


def test_drift_is_from_the_prompt_and_the_first_step_too():
    prompt, p0, p1 = unit(1, 0, 0), unit(1, 1, 0), unit(0, 1, 0)
    first = tj.measure(np.stack([p0]), [0], [None], prompt)
    assert first.drift == pytest.approx(tj.distance(prompt, p0)) and first.step == pytest.approx(first.drift)
    second = tj.measure(np.stack([p0, p1]), [0, 1], [None, None], prompt)
    assert second.drift == pytest.approx(math.sqrt(2), abs=1e-6)
    assert second.step == pytest.approx(tj.distance(p0, p1))
    assert second.recurrence == pytest.approx((tj.distance(p0, p1),))
    no_prompt = tj.measure(np.stack([p0, p1]), [0, 1], [None, None])
    assert no_prompt.drift == pytest.approx(tj.distance(p0, p1))


def test_in_an_exact_loop_the_nearest_earlier_point_is_the_last_time_round():
    """Five ideas over and over: the newest output is as near (0) to every earlier visit of its idea;
    the one named is the most recent, one period back, as the LOOP badge says."""
    ideas = tj.unit_rows(np.eye(5, 8) + 0.1)[0]
    points = np.stack([ideas[i % 5] for i in range(75)])
    m = tj.measure(points, list(range(75)), [f"idea {i % 5}" for i in range(75)])
    assert m.flags == ("loop",) and m.loop_period == 5
    assert m.nearest == 69 and m.nearest_distance == pytest.approx(0.0, abs=1e-3)
    noisy = points.copy()
    noisy[4] = tj.unit_rows(ideas[4] + 1e-5)[0]  # the same idea, float noise apart, the nearest by a hair
    assert tj.measure(noisy, list(range(75)), [None] * 75).nearest == 69
    nearer = points.copy()
    nearer[-1] = tj.unit_rows(ideas[4] + 0.05 * np.eye(1, 8, 7)[0])[0]
    nearer[9] = tj.unit_rows(ideas[4] + 0.04 * np.eye(1, 8, 7)[0])[0]  # truly nearer, long ago
    assert tj.measure(nearer, list(range(75)), [None] * 75).nearest == 9


def test_a_run_whose_last_steps_barely_move_is_stuck_and_not_a_loop():
    base = np.array([1.0, 0, 0, 0])
    wobble = tj.unit_rows(np.stack([base + np.array([0, 0.01 * i, 0, 0]) for i in range(6)]))[0]
    points = np.concatenate([tj.unit_rows(np.array([[0, 1.0, 0, 0], [0, 0, 1.0, 0]]))[0], wobble])
    m = tj.measure(points, list(range(len(points))), [None] * len(points), thresholds=tj.Thresholds(3, 0.1, 0.1))
    assert m.flags == ("stuck",) and m.loop_period is None
    moving = tj.measure(points[:4], [0, 1, 2, 3], [None] * 4, thresholds=tj.Thresholds(3, 0.1, 0.1))
    assert "stuck" not in moving.flags


def test_the_same_caption_over_and_over_is_stuck_even_when_vectors_differ():
    points = tj.unit_rows(np.random.default_rng(0).standard_normal((4, 8)))[0]
    m = tj.measure(points, [0, 2, 4, 6], ["k0", "same", "same", "same"], thresholds=tj.Thresholds(2, 0.01, 0.01))
    assert m.flags == ("stuck",)


def test_a_return_to_an_earlier_point_after_leaving_it_is_a_loop_with_its_period_in_invocations():
    a, b, c = unit(1, 0, 0, 0), unit(0, 1, 0, 0), unit(0, 0, 1, 0)
    near_a = unit(1, 0.05, 0, 0)
    points = np.stack([a, b, c, near_a])
    m = tj.measure(points, [0, 2, 4, 6], [None] * 4, thresholds=tj.Thresholds(3, 0.1, 0.2))
    assert m.flags == ("loop",) and m.loop_period == 6
    assert m.nearest == 0 and m.nearest_distance == pytest.approx(tj.distance(a, near_a))


def test_an_exact_repeated_caption_after_a_detour_is_a_loop_and_a_far_point_is_not():
    points = tj.unit_rows(np.random.default_rng(1).standard_normal((5, 16)))[0]
    keys = ["x", "y", "z", "w", "y"]
    m = tj.measure(points, [1, 3, 5, 7, 9], keys, thresholds=tj.Thresholds(3, 0.01, 0.01))
    assert m.flags == ("loop",) and m.loop_period == 6
    assert tj.measure(points, [1, 3, 5, 7, 9], ["x", "y", "z", "w", "v"],
                      thresholds=tj.Thresholds(3, 0.01, 0.01)).flags == ()


def test_mean_steps_per_hop_say_which_models_move_meaning_most():
    steps = hop_steps(["painter>captioner", "poet", "painter>captioner", "poet"], [0.8, 0.1, 0.6, 0.3],
                      {"painter": "Pixel Painter", "captioner": "Colour Captioner"})
    assert [(h.hop, h.name, h.steps) for h in steps] == [
        ("painter>captioner", "Pixel Painter \u2192 Colour Captioner", 2), ("poet", "poet", 2)]
    assert steps[0].mean_step == pytest.approx(0.7) and steps[1].mean_step == pytest.approx(0.2)


def test_the_projection_keeps_its_axes_sense_through_a_refit_and_puts_the_reference_inside_the_unit_box():
    rng = np.random.default_rng(2)
    reference = tj.unit_rows(rng.standard_normal((200, 16)) * np.linspace(3, 0.1, 16))[0]
    first = tj.fit_projection(reference, 200)
    xy = first.project(reference)
    assert xy.shape == (200, 2) and np.mean(np.abs(xy) <= 1.0) >= 0.95
    more = np.concatenate([reference, tj.unit_rows(rng.standard_normal((200, 16)) * np.linspace(3, 0.1, 16))[0]])
    second = tj.fit_projection(more, 400, first)
    assert second.version == 2
    assert float(second.axes[0] @ first.axes[0]) > 0.5 and float(second.axes[1] @ first.axes[1]) > 0
    # the same fit with the previous axes flipped would flip too: the sense follows the previous fit
    flipped = tj.Projection(first.mean, -first.axes, first.scale, 200, 1)
    assert float(tj.fit_projection(more, 400, flipped).axes[0] @ first.axes[0]) < 0


def test_a_refit_waits_for_the_history_to_double():
    p = tj.Projection(np.zeros(4), np.eye(2, 4), 1.0, 100, 1)
    assert not tj.should_refit(p, 150, 4) and tj.should_refit(p, 200, 4)
    assert tj.should_refit(p, 101, 8), "a new model's dimension needs new axes"
    assert tj.should_refit(None, 3, 4)
    with pytest.raises(ValueError):
        tj.fit_projection(np.ones((2, 4)), 2)


def test_runs_sharing_ideas_are_nearer_than_runs_that_do_not():
    rng = np.random.default_rng(3)
    ideas = tj.unit_rows(rng.standard_normal((12, 32)))[0]
    run = ideas[[0, 1, 2, 3, 4]]
    similar = ideas[[1, 2, 3, 0]]
    other = ideas[[7, 8, 9, 10, 11]]
    assert tj.chamfer(run, run) == pytest.approx(0.0, abs=1e-3)  # float32 rounding
    ranked = tj.nearest_runs(run, {"other": other, "similar": similar, "empty": ideas[:0]})
    assert [r for r, _ in ranked] == ["similar", "other"]
    assert tj.signature(run).shape == (32,)


def test_ripsers_core_gives_the_same_diagrams_as_the_ripser_package():
    from ripser import ripser

    rng = np.random.default_rng(4)
    points = np.concatenate([circle(24, 6), tj.unit_rows(rng.standard_normal((40, 6)))[0]])
    dm = distance_matrix(points)
    ours = rips(dm)
    theirs = ripser(dm, maxdim=1, distance_matrix=True)["dgms"]
    for mine, reference in zip(ours, theirs):
        assert np.allclose(np.sort(mine, axis=0), np.sort(reference, axis=0), equal_nan=True)


def test_a_circle_has_one_long_h1_bar_and_one_h0_bar_that_never_dies():
    diagram = persistence(circle(40), window=100)
    assert diagram is not None and diagram.points == 40
    assert sum(1 for _, death in diagram.h0 if death is None) == 1
    lifetimes = sorted((d - b for b, d in diagram.h1 if d is not None), reverse=True)
    assert lifetimes and lifetimes[0] > 0.3 and (len(lifetimes) == 1 or lifetimes[1] < lifetimes[0] / 3)
    data = diagram.as_json(limit=3)
    h0 = data["h0"]
    assert isinstance(h0, list) and h0[0][1] is None and len(h0) == 3 and data["points"] == 40


def test_persistence_uses_only_the_latest_window_and_needs_three_points():
    points = circle(60)
    assert persistence(points, window=10).points == 10
    assert persistence(points[:2], window=10) is None
