"""Spending caps, pure: a day's ledger per network and for the appliance."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from panic_edge.core.spending import Caps, add, new_ledger, next_midnight, over_cap, roll

TZ = ZoneInfo("Europe/London")
NOON = dt.datetime(2026, 11, 26, 12, tzinfo=TZ).timestamp()


def test_spend_adds_up_per_network_and_per_hour():
    ledger = add(add(new_ledger(NOON, TZ), "a", 0.5, NOON, TZ), "b", 0.25, NOON + 3600, TZ)
    assert ledger.total == 0.75 and ledger.network("a") == 0.5
    assert ledger.hours[12] == 0.5 and ledger.hours[13] == 0.25


def test_a_network_cap_stops_that_network_only():
    caps = Caps(network=1.0, networks={"big": 5.0})
    ledger = add(new_ledger(NOON, TZ), "a", 1.0, NOON, TZ)
    ledger = add(ledger, "big", 2.0, NOON, TZ)
    assert "network a's daily budget of $1.00 is spent" in (over_cap(ledger, caps, "a") or "")
    assert over_cap(ledger, caps, "big") is None


def test_the_appliance_cap_stops_every_network():
    ledger = add(new_ledger(NOON, TZ), "a", 3.0, NOON, TZ)
    assert "appliance's daily budget" in (over_cap(ledger, Caps(appliance=3.0), "b") or "")


def test_the_ledger_starts_afresh_at_local_midnight():
    ledger = add(new_ledger(NOON, TZ), "a", 3.0, NOON, TZ)
    midnight = next_midnight(NOON, TZ)
    assert dt.datetime.fromtimestamp(midnight, TZ).hour == 0
    assert roll(ledger, midnight - 1, TZ) is ledger
    assert roll(ledger, midnight, TZ).total == 0


def test_a_cost_from_another_day_is_not_counted():
    ledger = new_ledger(NOON, TZ)
    assert add(ledger, "a", 1.0, NOON - 86400, TZ).total == 0
