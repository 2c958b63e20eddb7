"""Spend at a glance: the windowed query on a real SQLite file, the pure summary (hostile figures
included), the chart, and the Spend page and /api/spend of a live daemon."""

from __future__ import annotations

import json
import math
import sqlite3
import time
from datetime import datetime
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from flask_ui.spend_chart import bar_chart
from panic_edge.core.prewarm import Warmup
from panic_edge.core.spend import PREWARMING, SpendRow, summarise, window_hours
from panic_edge.store.migrations import migrate
from panic_edge.store.spend import record_warmup, spend_by_hour
from tests.admin_fixtures import Browser

H = 3600.0
T0 = 1_700_000_000.0 - 1_700_000_000.0 % H  # an hour boundary


def seed(conn: sqlite3.Connection, calls: list[tuple[str, float, object, str]]) -> None:
    """Invocations (network, created_at, cost_usd as stored in meta, state) with their runs."""
    for i, (network, at, cost, state) in enumerate(calls):
        conn.execute("INSERT OR IGNORE INTO runs (id, network, prompt, started_at) VALUES (?, ?, 'p', ?)",
                     (f"run-{network}", network, at))
        meta = json.dumps({"cost_usd": cost}) if cost is not None else "{}"
        conn.execute("INSERT INTO invocations (id, run_id, network, sequence, model, state, input_type, input_text, "
                     "output_type, created_at, finished_at, meta) VALUES (?, ?, ?, ?, 'm', ?, 'text', 'x', 'text', ?, "
                     "?, ?)", (f"i{i}", f"run-{network}", network, i, state, at, at + 1, meta))
    conn.commit()


def database(tmp_path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(tmp_path / "db.sqlite3")
    migrate(conn)
    return conn


def test_spend_is_summed_per_network_and_hour_from_completed_calls_and_warm_ups_in_the_window(tmp_path):
    conn = database(tmp_path)
    seed(conn, [("gallery", T0 + 10, 0.01, "completed"), ("gallery", T0 + 20, 0.02, "completed"),
                ("gallery", T0 + H + 5, 0.5, "completed"), ("gallery", T0 + 30, 9.0, "failed"),
                ("music", T0 + 2 * H, None, "completed"), ("music", T0 - 1, 7.0, "completed"),
                ("music", T0 + 3 * H, 7.0, "completed")])
    record_warmup(conn, Warmup("w1", "molmo", "opening", True, T0 + 5, T0 + 60, meta={"cost_usd": 0.004}))
    rows = sorted(spend_by_hour(conn, T0, T0 + 3 * H), key=lambda r: (r.network, r.bucket))
    assert [(r.network, r.bucket, round(r.cost_usd, 6), r.calls) for r in rows] == [
        (PREWARMING, 0, 0.004, 1), ("gallery", 0, 0.03, 2), ("gallery", 1, 0.5, 1), ("music", 2, 0.0, 1)]


def test_implausible_costs_count_nothing_but_the_calls_still_count(tmp_path):
    conn = database(tmp_path)
    seed(conn, [("n", T0 + i, cost, "completed") for i, cost in enumerate(
        ["0.5", -1, 1e9, [1], {"a": 1}, True, 0.25, "NaN", 1e308])])
    [row] = spend_by_hour(conn, T0, T0 + H)
    assert row.calls == 9 and math.isclose(row.cost_usd, 0.25 + 1)  # true is 1 in SQLite's JSON


def test_the_query_reads_a_window_of_the_rollup_and_never_more_than_31_days(tmp_path):
    conn = database(tmp_path)
    plan = " ".join(str(r) for r in conn.execute("EXPLAIN QUERY PLAN " + _sql(), _params()))
    assert "spend_quarters" in plan and "invocations" not in plan and "warmups_started" in plan, plan
    assert "SCAN spend_quarters" not in plan, plan  # a range of its primary key
    seed(conn, [("old", T0 - 40 * 24 * H, 1.0, "completed"), ("new", T0 - H, 1.0, "completed")])
    assert [r.network for r in spend_by_hour(conn, 0, T0)] == ["new"]


def _sql() -> str:
    from panic_edge.store.spend import SPEND_BY_HOUR
    return SPEND_BY_HOUR


def _params() -> dict:
    return {"since": T0, "until": T0 + H, "first": T0 // 900, "last": (T0 + H) // 900, "prewarming": PREWARMING}


calls = st.lists(st.tuples(st.sampled_from(["a", "b"]), st.integers(0, 10 * 3600),
                           st.one_of(st.none(), st.floats(-1, 2000), st.sampled_from(["0.5", True, [1]])),
                           st.sampled_from(["completed", "failed", "invoking"])), max_size=30)
changes = st.lists(st.tuples(st.integers(0, 29), st.sampled_from(["complete", "fail", "cost", "delete"]),
                             st.floats(0, 5)), max_size=15)


@given(calls=calls, changes=changes)
def test_the_rollup_always_equals_summing_the_calls_themselves(tmp_path_factory, calls, changes):
    # what the triggers keep (migration 7) against the plain sum over the rows, after inserts, a
    # call completing or failing late, a cost filled in, a row deleted
    conn = database(tmp_path_factory.mktemp("rollup"))
    seed(conn, [(n, T0 + at, cost, state) for n, at, cost, state in calls])
    for index, change, cost in changes:
        row = f"i{index}"
        if change == "complete":
            conn.execute("UPDATE invocations SET state = 'completed' WHERE id = ?", (row,))
        elif change == "fail":
            conn.execute("UPDATE invocations SET state = 'failed' WHERE id = ?", (row,))
        elif change == "cost":
            conn.execute("UPDATE invocations SET meta = json_object('cost_usd', ?) WHERE id = ?", (cost, row))
        else:
            conn.execute("DELETE FROM invocations WHERE id = ?", (row,))
    conn.commit()
    direct = {(n, int(b)): (round(c, 6), k) for n, b, c, k in conn.execute(
        "SELECT network, (created_at - ?) / 3600, total(CASE WHEN typeof(json_extract(meta, '$.cost_usd')) "
        "IN ('integer', 'real') AND json_extract(meta, '$.cost_usd') BETWEEN 0 AND 1000.0 "
        "THEN json_extract(meta, '$.cost_usd') ELSE 0 END), count(*) FROM invocations "
        "WHERE state = 'completed' GROUP BY 1, CAST((created_at - ?) / 3600 AS INTEGER)", (T0, T0))}
    rolled = {(r.network, r.bucket): (round(r.cost_usd, 6), r.calls)
              for r in spend_by_hour(conn, T0, T0 + 11 * H) if r.calls}
    assert rolled == direct


def test_the_summary_gives_each_networks_hourly_series_today_and_rate_biggest_first_warm_ups_last():
    rows = [SpendRow("a", 0, 1.0, 2), SpendRow("a", 47, 0.48, 1), SpendRow("b", 30, 2.0, 1),
            SpendRow(PREWARMING, 24, 5.0, 1), SpendRow("b", 48, 9.0, 1), SpendRow("b", -1, 9.0, 1)]
    b, a, warm = summarise(rows, T0, T0 + 48 * H, today_start=T0 + 24 * H)
    assert (b.network, b.total_usd, b.today_usd, b.calls, len(b.hourly)) == ("b", 2.0, 2.0, 1, 48)
    assert (a.total_usd, a.today_usd, a.last_24h_usd, a.calls) == (1.48, 0.48, 0.48, 3)
    assert math.isclose(a.rate_per_hour, 0.02) and a.peak_usd == 1.0
    assert warm.network == PREWARMING and warm.today_usd == 5.0
    assert window_hours(T0, T0 + 1) == 1 and window_hours(T0, T0) == 0 and window_hours(T0, math.inf) == 0


@given(st.lists(st.builds(SpendRow, st.text(max_size=5), st.integers(-5, 200),
                          st.floats(allow_nan=True, allow_infinity=True), st.integers(-10, 10**6)), max_size=40),
       st.floats(-1e12, 1e12), st.floats(0, 1e7), st.floats(allow_nan=True, allow_infinity=True))
def test_the_summary_of_any_rows_is_finite_and_never_negative(rows, since, span, today):
    for s in summarise(rows, since, since + span, today):
        assert len(s.hourly) == window_hours(since, since + span) <= 31 * 24
        assert all(math.isfinite(v) and v >= 0 for v in (*s.hourly, s.total_usd, s.today_usd, s.last_24h_usd))
        assert s.calls >= 0 and s.today_usd <= s.total_usd + 1e-6
        bar_chart(s.hourly, since, s.network)  # and it draws


def test_the_chart_draws_a_bar_per_hour_that_cost_something_with_its_hour_and_amount():
    since = datetime(2025, 3, 3).timestamp()  # a local midnight: the days are marked
    svg = str(bar_chart([0.0] * 30 + [0.5, 0.25] + [0.0] * 16, since, "Gallery <&>"))
    assert svg.startswith('<svg class="spend-chart"') and svg.count("<rect") == 2
    assert "Tue 06:00: $0.5000</title>" in svg and "Tue 04" in svg and "$0.50/h" in svg
    assert 'aria-label="Gallery &lt;&amp;&gt;: dollars per hour"' in svg and "style" not in svg


def test_the_spend_page_and_api_show_each_network_today_and_per_hour(admin: Browser, live):
    now = time.time()
    conn = sqlite3.connect(live.config.database_path, timeout=10)
    seed(conn, [("demo", now - 60, 0.125, "completed"), ("demo", now - 30, 0.125, "completed"),
                ("gone", now - 3 * H, 0.75, "completed")])
    record_warmup(conn, Warmup("w", "molmo", "start", True, now - 10, now - 5, meta={"cost_usd": 0.01}))
    conn.commit()
    conn.close()
    html = admin.get("/spend").get_data(as_text=True)
    assert "Demo" in html and "gone" in html and "Pre-warming" in html and html.count('<svg class="spend-chart"') == 3
    assert "$0.2500" in html and "<rect" in html and "none offers it through its API" in html
    body = admin.get("/api/spend?days=1").get_json()
    demo = next(n for n in body["networks"] if n["network"] == "demo")
    assert body["days"] == 1 and demo["today_usd"] == 0.25 and demo["calls"] == 2 and demo["name"].startswith("Demo")
    assert len(demo["hourly_usd"]) == math.ceil((body["until"] - body["since"]) / H)
    assert [n["network"] for n in body["networks"]][-1] is None  # the warm-ups, last
    assert admin.get("/api/spend?days=-5").status_code == 200 and admin.get("/spend?days=x").status_code == 200


def test_the_spend_page_needs_a_login(browser: Browser):
    assert browser.get("/spend").status_code in (302, 401, 403)
    assert browser.get("/api/spend").status_code in (401, 403)
