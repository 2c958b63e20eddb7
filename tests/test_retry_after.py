"""Retry-After, as platforms send it: seconds, or an HTTP date (RFC 9110), or rubbish."""

from __future__ import annotations

import email.utils
import time

from hypothesis import example, given
from hypothesis import strategies as st

from panic_edge.platforms.errors import TransientError
from panic_edge.platforms.http import parse_retry_after, status_error

NOW = 1_445_412_480.0  # Wed, 21 Oct 2015 07:28:00 GMT


def test_an_http_date_gives_the_seconds_until_it():
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now=NOW) == 30.0
    assert parse_retry_after(email.utils.formatdate(NOW + 90, usegmt=True), now=NOW) == 90.0


def test_an_http_date_in_the_past_means_now():
    assert parse_retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now=NOW) == 0.0


def test_a_429_with_an_http_date_is_transient_and_waits_until_then():
    future = email.utils.formatdate(time.time() + 120, usegmt=True)
    error = status_error("openai", 429, "slow down", {"retry-after": future})
    assert isinstance(error, TransientError) and error.retry_after is not None
    assert 100 < error.retry_after <= 120


def test_seconds_and_rubbish():
    assert parse_retry_after("7", now=NOW) == 7.0
    assert parse_retry_after("-3", now=NOW) == 0.0
    assert parse_retry_after(None) is None and parse_retry_after("") is None
    assert parse_retry_after("soon", now=NOW) is None
    assert parse_retry_after("Wed, 99 Oct 2015 07:28:00 GMT", now=NOW) is None


@given(st.text(max_size=60))
@example("nan")
@example("1e999")
@example("Mon, 01 Jan 99999 00:00:00 GMT")
@example("Mon, 01 Jan 2015 99:00:00 GMT")
def test_any_header_value_gives_seconds_or_none(value: str):
    seconds = parse_retry_after(value, now=NOW)
    assert seconds is None or seconds >= 0.0
