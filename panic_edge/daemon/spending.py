"""The day's spending in the daemon: the ledger (core/spending.py) kept from each completed call's
``cost_usd``, the caps of ``[budget]`` applied to the networks that call paid models, and the
reset at local midnight.

At start the ledger is read back from the database (today's completed calls and warm-ups), so a
restart does not forget what the day has cost. The engine tells the ledger a call's cost before
it tells the runner the call is done, so a cap reached by this call holds the next one.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from panic_edge.clock import Clock
from panic_edge.core import spending
from panic_edge.core.runner import RunnerState, Spending
from panic_edge.core.spend import HOUR, call_usd
from panic_edge.store import spend as queries

if TYPE_CHECKING:
    from panic_edge.daemon.engine import Engine
    from panic_edge.store import Store

log = logging.getLogger("panic_edge.spending")


class Ledger:
    def __init__(self, caps: spending.Caps, tz: dt.tzinfo, clock: Clock, paid: Callable[[str], bool]) -> None:
        self.caps = caps
        self.tz = tz
        self.clock = clock
        self.paid = paid  # whether a network calls paid models (only those are held by a cap)
        self.day = spending.new_ledger(clock.now(), tz)
        self.engine: Engine | None = None

    async def load(self, store: Store) -> None:
        """Today's spend so far, from the database."""
        now = self.clock.now()
        midnight = spending.day_start(spending.local_day(now, self.tz), self.tz).timestamp()
        rows = await store.read(queries.spend_by_hour, midnight, now + 1)
        day = spending.new_ledger(now, self.tz)
        for row in rows:
            day = spending.add(day, row.network, row.cost_usd, midnight + row.bucket * HOUR, self.tz)
        self.day = day
        if day.total:
            log.info("spent $%.2f so far today", day.total)

    async def spent(self, network: str, cost: object, at: float) -> None:
        """A call of ``network`` (or a warm-up: ``PREWARMING``) made at ``at`` cost ``cost`` (its
        meta's ``cost_usd``, any value). ``at`` is the instant the database files it under (an
        invocation's ``created_at``, a warm-up's ``started_at``), so a restart reads the same day back."""
        self.day = spending.roll(self.day, self.clock.now(), self.tz)
        usd = call_usd(cost)
        if usd is not None:
            self.day = spending.add(self.day, network, usd, at, self.tz)
        await self.apply()

    async def refund(self, network: str, cost: object, at: float) -> None:
        """Take back what ``spent`` counted for a result the runner discarded (a stop came first):
        the database keeps no completed step, so no cost, for it."""
        usd = call_usd(cost)
        if usd is not None:
            self.day = spending.take_back(spending.roll(self.day, self.clock.now(), self.tz), network, usd, at,
                                          self.tz)
            await self.apply()

    def reason(self, slug: str) -> str | None:
        """Why ``slug`` may not call a paid model now (None: it may)."""
        return spending.over_cap(self.day, self.caps, slug) if self.paid(slug) else None

    async def apply(self) -> None:
        """Tell every network whose budget verdict changed."""
        if self.engine is None or not self.caps.any:
            return
        now = self.clock.now()

        def verdict(state: RunnerState) -> Spending | None:
            reason = self.reason(state.network.slug)
            return Spending(reason, now) if reason != state.budget else None

        await self.engine.broadcast(verdict)

    async def run(self) -> None:
        """At each local midnight the day starts afresh and held runs go on."""
        while True:
            now = self.clock.now()
            await self.clock.sleep(spending.next_midnight(now, self.tz) - now + 0.5)
            self.day = spending.roll(self.day, self.clock.now(), self.tz)
            log.info("a new day: the spending caps start afresh")
            await self.apply()

    def status(self) -> dict[str, Any]:
        """``spend`` in the retained status: today's and this hour's dollars, the caps, and when the
        day began (ISO 8601 with its offset: Home Assistant's ``last_reset``)."""
        day = spending.roll(self.day, self.clock.now(), self.tz)
        hour = dt.datetime.fromtimestamp(self.clock.now(), self.tz).hour
        return {"today_usd": round(day.total, 4), "day_start": spending.day_start(day.day, self.tz).isoformat(),
                "hour_usd": round(day.hours[hour], 4),
                "cap_usd": self.caps.appliance, "network_cap_usd": self.caps.network,
                "networks": {slug or "(pre-warming)": round(usd, 4) for slug, usd in day.networks.items()}}

    def network_today(self, slug: str) -> float:
        return round(spending.roll(self.day, self.clock.now(), self.tz).network(slug), 4)
