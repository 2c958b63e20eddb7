"""Spending: what the models cost today, per network and for the whole appliance, against caps.

Costs are in the platforms' currency (US dollars): each completed invocation's ``cost_usd``, which
the platform clients estimate from the catalogue's prices and the platform's own metrics (predict
time, tokens). A day is a calendar day in the schedule's timezone, so "per day" means what the
gallery means by it. A cap is checked before each call, so a day can overshoot its cap by at most
one call.

Pure: the ledger is a value; instants and the timezone are arguments.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class Caps:
    """Per-day caps in US dollars; None is no cap. ``networks`` overrides ``network`` per slug."""

    appliance: float | None = None
    network: float | None = None
    networks: Mapping[str, float] = field(default_factory=dict, hash=False)

    def for_network(self, slug: str) -> float | None:
        return self.networks.get(slug, self.network)

    @property
    def any(self) -> bool:
        return self.appliance is not None or self.network is not None or bool(self.networks)


@dataclass(frozen=True)
class Ledger:
    """Spend of one local day (``day``), per network and per hour of that day."""

    day: dt.date
    networks: Mapping[str, float] = field(default_factory=dict, hash=False)
    hours: tuple[float, ...] = (0.0,) * 24

    @property
    def total(self) -> float:
        return sum(self.networks.values())

    def network(self, slug: str) -> float:
        return self.networks.get(slug, 0.0)


def local_day(now: float, tz: dt.tzinfo) -> dt.date:
    return dt.datetime.fromtimestamp(now, tz).date()


def new_ledger(now: float, tz: dt.tzinfo) -> Ledger:
    return Ledger(local_day(now, tz))


def roll(ledger: Ledger, now: float, tz: dt.tzinfo) -> Ledger:
    """The ledger for the day of ``now``: the same one, or an empty one after midnight."""
    return ledger if ledger.day == local_day(now, tz) else new_ledger(now, tz)


def add(ledger: Ledger, slug: str, cost: float, at: float, tz: dt.tzinfo) -> Ledger:
    """``ledger`` with ``cost`` spent by ``slug`` at ``at`` (a cost from another day is not counted)."""
    return _shift(ledger, slug, cost, at, tz) if cost > 0 else ledger


def take_back(ledger: Ledger, slug: str, cost: float, at: float, tz: dt.tzinfo) -> Ledger:
    """``ledger`` without a cost ``add`` counted: a result the runner then discarded (a stop came
    first), which the database keeps no cost for either."""
    return _shift(ledger, slug, -cost, at, tz) if cost > 0 else ledger


def _shift(ledger: Ledger, slug: str, delta: float, at: float, tz: dt.tzinfo) -> Ledger:
    if local_day(at, tz) != ledger.day:
        return ledger
    hour = dt.datetime.fromtimestamp(at, tz).hour
    hours = list(ledger.hours)
    hours[hour] = max(0.0, hours[hour] + delta)
    networks = dict(ledger.networks)
    networks[slug] = max(0.0, networks.get(slug, 0.0) + delta)
    return replace(ledger, networks=networks, hours=tuple(hours))


def over_cap(ledger: Ledger, caps: Caps, slug: str) -> str | None:
    """Why ``slug`` may not call a paid model now, or None when it may."""
    if caps.appliance is not None and ledger.total >= caps.appliance:
        return (f"the appliance's daily budget of ${caps.appliance:.2f} is spent "
                f"(${ledger.total:.2f} today); it resets at midnight")
    cap = caps.for_network(slug)
    if cap is not None and ledger.network(slug) >= cap:
        return (f"network {slug}'s daily budget of ${cap:.2f} is spent "
                f"(${ledger.network(slug):.2f} today); it resets at midnight")
    return None


def day_start(day: dt.date, tz: dt.tzinfo) -> dt.datetime:
    """The local midnight ``day`` begins at, in ``tz``: when the day's spend started from zero
    (Home Assistant's ``last_reset`` of the spend-today sensor)."""
    return dt.datetime.combine(day, dt.time(), tzinfo=tz)


def next_midnight(now: float, tz: dt.tzinfo) -> float:
    """The instant the day of ``now`` ends, in ``tz``."""
    return day_start(local_day(now, tz) + dt.timedelta(days=1), tz).timestamp()
