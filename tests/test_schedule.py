"""Opening hours, pure: open or closed at an instant, and when that changes, in a real timezone."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from panic_edge.core.schedule import DAYS, env_lines, is_open, next_change, parse_schedule

TZ = ZoneInfo("Australia/Sydney")


def at(text: str, tz: dt.tzinfo = TZ) -> float:
    return dt.datetime.fromisoformat(text).replace(tzinfo=tz).timestamp()


GALLERY = parse_schedule(["mon-fri 10:00-18:00", "sat 10:00-16:00"], ["2026-12-25 closed",
                                                                      "2026-12-24 10:00-14:00"], TZ)


def test_no_hours_means_always_open():
    always = parse_schedule([])
    assert is_open(always, 0) and next_change(always, 0) is None


def test_open_within_the_weekly_hours_and_closed_outside():
    assert is_open(GALLERY, at("2026-11-26 10:00"))  # a Thursday
    assert not is_open(GALLERY, at("2026-11-26 09:59"))
    assert not is_open(GALLERY, at("2026-11-26 18:00"))
    assert is_open(GALLERY, at("2026-11-28 15:59"))  # Saturday
    assert not is_open(GALLERY, at("2026-11-29 12:00"))  # Sunday


def test_the_next_change_is_the_next_opening_or_closing():
    assert next_change(GALLERY, at("2026-11-26 12:00")) == at("2026-11-26 18:00")
    assert next_change(GALLERY, at("2026-11-28 17:00")) == at("2026-11-30 10:00")  # Sat -> Mon


def test_dated_exceptions_replace_the_day():
    assert not is_open(GALLERY, at("2026-12-25 12:00"))  # a Friday, closed for Christmas
    assert not is_open(GALLERY, at("2026-12-24 15:00"))
    assert next_change(GALLERY, at("2026-12-24 12:00")) == at("2026-12-24 14:00")
    assert next_change(GALLERY, at("2026-12-24 20:00")) == at("2026-12-26 10:00")  # Saturday


def test_a_window_past_midnight_stays_open_into_the_next_day():
    late = parse_schedule(["fri 18:00-02:00"], tz=TZ)
    assert is_open(late, at("2026-11-28 01:30"))  # Saturday morning, Friday's window
    assert next_change(late, at("2026-11-28 01:30")) == at("2026-11-28 02:00")


def test_hours_are_wall_clock_across_a_daylight_saving_change():
    # Sydney moves its clocks forward on 2026-10-04: opening stays at 10:00 on the door.
    sched = parse_schedule(["sun 10:00-12:00"], tz=TZ)
    assert next_change(sched, at("2026-09-30 12:00")) == at("2026-10-04 10:00")
    change = next_change(sched, at("2026-09-30 12:00"))
    assert change is not None and dt.datetime.fromtimestamp(change, TZ).hour == 10


@pytest.mark.parametrize("hours, words", [
    (["mon-fri"], "must look like"), (["funday 10:00-12:00"], "name days"),
    (["mon 25:00-26:00"], "not a time"), (["mon 10:00"], "range"), (["mon 10:00-10:00"], "same time"),
])
def test_bad_hours_name_the_line(hours, words):
    with pytest.raises(ValueError, match=words):
        parse_schedule(hours)


def test_bad_exceptions_name_the_line():
    with pytest.raises(ValueError, match="exceptions line 1"):
        parse_schedule(["mon 10:00-12:00"], ["christmas closed"])


@given(st.lists(st.text(max_size=30), max_size=4), st.lists(st.text(max_size=30), max_size=3))
def test_any_lines_parse_or_raise_a_value_error(hours, exceptions):
    try:
        parse_schedule(hours, exceptions, TZ)
    except ValueError as err:
        assert "line" in str(err)


@given(st.floats(min_value=1.7e9, max_value=1.9e9))
def test_the_state_really_changes_at_the_next_change_and_not_before(now):
    change = next_change(GALLERY, now)
    assert change is not None and change > now
    assert is_open(GALLERY, change) != is_open(GALLERY, now)
    assert is_open(GALLERY, (now + change) / 2) == is_open(GALLERY, now)


def test_several_days_and_several_windows_in_one_line_as_the_docstring_shows_them():
    assert parse_schedule(["mon, wed 10:00-12:00"]) == parse_schedule(["mon 10:00-12:00", "wed 10:00-12:00"])
    assert parse_schedule(["sun 10:00-12:00, 14:00-17:00"]) == parse_schedule(["sun 10:00-12:00",
                                                                               "sun 14:00-17:00"])


def test_the_environment_variable_takes_lines_separated_by_semicolons_or_by_commas_read_smartly():
    from panic_edge.config import load_config

    lines = ["sun 10:00-12:00, 14:00-17:00", "mon, wed 10:00-12:00", "fri 18:00-02:00"]
    exceptions = ["2026-12-25 closed", "2026-12-31 10:00-12:00, 13:00-15:00"]
    for raw in ("; ".join(lines), ", ".join(lines), "sun 10:00-12:00,14:00-17:00,mon,wed 10:00-12:00,fri 18:00-02:00"):
        config = load_config(None, {"PANIC_EDGE_SCHEDULE_HOURS": raw,
                                    "PANIC_EDGE_SCHEDULE_EXCEPTIONS": ", ".join(exceptions)})
        assert parse_schedule(config.schedule.hours) == parse_schedule(lines), raw
        assert config.schedule.exceptions == exceptions


def _time(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


days = st.one_of(st.sampled_from(DAYS), st.tuples(st.sampled_from(DAYS), st.sampled_from(DAYS)).map("-".join))
windows = st.tuples(st.integers(0, 1439), st.integers(1, 1439)).map(
    lambda w: f"{_time(w[0])}-{_time((w[0] + w[1]) % 1440)}")
lines = st.builds(lambda d, w, sep: f"{sep.join(d)} {', '.join(w)}",
                  st.lists(days, min_size=1, max_size=3), st.lists(windows, min_size=1, max_size=3),
                  st.sampled_from([",", ", "]))


@given(st.lists(lines, min_size=1, max_size=5), st.sampled_from([", ", ",", "; ", ";"]))
def test_any_hours_written_into_one_variable_read_back_as_the_same_schedule(hours, separator):
    assert parse_schedule(env_lines(separator.join(hours))) == parse_schedule(hours)
