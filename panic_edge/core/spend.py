"""Spend at a glance: dollars per network per hour, from the calls' recorded ``cost_usd``. Pure.

The store hands over one ``SpendRow`` per network and hour bucket of a window (hours counted from
the window's start, so a window that starts at a local midnight has local hours); ``summarise``
turns them into each network's hourly series, its total, today's spend and its rate. Warm-up
calls (core/prewarm.py) are their own series, ``PREWARMING``, since one model may serve several
networks.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

HOUR = 3600.0
PREWARMING = ""  # the network of warm-up calls in SpendRow
MAX_CALL_USD = 1000.0  # one call costing more than this is not a price but a broken record: ignored
MAX_HOURS = 31 * 24  # the longest window read


def call_usd(cost: object) -> float | None:
    """One call's reported ``cost_usd`` as dollars, or None when it is not a plausible price (the
    rule the database's spend rollup applies too: a number above 0 and at most MAX_CALL_USD)."""
    if isinstance(cost, (int, float)) and not isinstance(cost, bool) and 0 < cost <= MAX_CALL_USD:
        return float(cost)
    return None


@dataclass(frozen=True)
class SpendRow:
    """Calls of one network that began in hour ``bucket`` of the window (0 = its first hour):
    their count, and their summed ``cost_usd`` (calls without a known price count 0)."""

    network: str
    bucket: int
    cost_usd: float
    calls: int


@dataclass(frozen=True)
class NetworkSpend:
    network: str
    hourly: tuple[float, ...]  # dollars in each hour of the window, oldest first
    calls: int
    total_usd: float
    today_usd: float
    last_24h_usd: float

    @property
    def rate_per_hour(self) -> float:
        """The average dollars per hour over the last 24 hours (or the window, if shorter)."""
        return self.last_24h_usd / max(1, min(24, len(self.hourly)))

    @property
    def peak_usd(self) -> float:
        return max(self.hourly, default=0.0)


def window_hours(since: float, until: float) -> int:
    """How many hour buckets the window ``since``..``until`` has (the last one may be partial)."""
    if not (math.isfinite(since) and math.isfinite(until)) or until <= since:
        return 0
    return min(MAX_HOURS, math.ceil((until - since) / HOUR))


def summarise(rows: Iterable[SpendRow], since: float, until: float, today_start: float) -> list[NetworkSpend]:
    """Each network's spend over the window, the biggest spender first, warm-ups last. Rows out of
    the window, and costs that are not finite or not plausible, are left out."""
    hours = window_hours(since, until)
    series: dict[str, list[float]] = {}
    calls: dict[str, int] = {}
    for row in rows:
        if not 0 <= row.bucket < hours:
            continue
        hourly = series.setdefault(row.network, [0.0] * hours)
        hourly[row.bucket] += _usd(row.cost_usd, row.calls)
        calls[row.network] = calls.get(row.network, 0) + max(0, int(row.calls))
    today = max(0, min(hours, math.floor((today_start - since) / HOUR))) if math.isfinite(today_start) else hours
    out = [NetworkSpend(network, tuple(round(v, 6) for v in hourly), calls[network], round(sum(hourly), 6),
                        round(sum(hourly[today:]), 6), round(sum(hourly[-24:]), 6))
           for network, hourly in series.items()]
    return sorted(out, key=lambda s: (s.network == PREWARMING, -s.total_usd, s.network))


def _usd(value: float, calls: int) -> float:
    """A bucket's sum if it is a finite, non-negative figure that ``calls`` calls could have cost,
    else 0 (the store already leaves out each call's implausible cost; this guards the sum, so
    adding buckets up can never overflow to infinity)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        return 0.0
    return float(value) if value <= MAX_CALL_USD * max(1, calls) else 0.0
