"""A gallery's day around the loop: opening hours, the day's spending, archive retention, health.

Each is a small shell over a pure rule (core/schedule.py, core/spending.py, core/retention.py,
core/health.py); ``GalleryDay`` opens them from the config, runs their tasks beside the loop,
tells the engine what they decide (as runner events, through ``Engine.broadcast``), and gives the
retained status its ``open``, ``next_change``, ``spend`` and ``health``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

from panic_edge.clock import Clock
from panic_edge.config import Config
from panic_edge.core.health import Health, Thresholds
from panic_edge.core.pacing import NO_BOARDS, Boards
from panic_edge.core.retention import Limits
from panic_edge.core.runner import BoardsSeen, Hours, Policies, RunnerState
from panic_edge.core.spending import Caps
from panic_edge.daemon.hours import OpeningHours, schedule_of
from panic_edge.daemon.retention import Retention
from panic_edge.daemon.spending import Ledger
from panic_edge.health import read_health

if TYPE_CHECKING:
    from panic_edge.daemon.engine import Engine
    from panic_edge.store import Store

log = logging.getLogger("panic_edge.day")


def policies_of(config: Config) -> Policies:
    return Policies(closed=config.schedule.closed_policy, on_open=config.schedule.on_open,
                    budget=config.budget.policy)


class GalleryDay:
    def __init__(self, config: Config, clock: Clock, store: Store, paid: Callable[[str], bool],
                 attract_network: Callable[[], str], new_id: Callable[[], str],
                 opened: Callable[[], Awaitable[Any]] | None = None,
                 changed: Callable[[], None] = lambda: None) -> None:
        self.config = config
        self.clock = clock
        self.store = store
        schedule = schedule_of(config.schedule)
        self.hours = OpeningHours(schedule, clock.now, clock.sleep)
        budget = config.budget
        self.ledger = Ledger(Caps(budget.appliance_per_day, budget.network_per_day, dict(budget.networks)),
                             schedule.tz, clock, paid)
        archive = config.archive
        self.retention = Retention(store, config.archive_dir, Limits(archive.max_bytes, archive.min_free_bytes,
                                                                     archive.keep_newest),
                                   archive.check_interval, clock.now)
        self.thresholds = Thresholds(config.health.disk_warning_bytes, config.health.temperature_warning_c)
        self.health = Health()
        self.attract_network = attract_network
        self.new_id = new_id
        self.opened = opened  # pre-warming at each opening
        self.changed = changed  # the status has news
        self.engine: Engine | None = None
        self._boards: dict[str, Boards] = {}
        self.board_holds = Boards(update_seconds=config.boards.update_seconds,
                                  prompt_seconds=config.boards.prompt_seconds)

    async def start(self, engine: Engine) -> None:
        """Before the loop starts: the day's spend so far, and the gates as they stand now."""
        self.engine = engine
        self.ledger.engine = engine
        await self.ledger.load(self.store)
        if not self.hours.open:
            log.info("the installation is closed until %s", self.hours.opens_at)
            await self._tell_hours(False)
        await self.ledger.apply()
        await self.retention.measure()  # health's archive_bytes from the start, not the first pass
        await self.read_health()

    def tasks(self) -> list[tuple[str, Callable[[], Coroutine[Any, Any, None]]]]:
        return [("opening hours", lambda: self.hours.run(self._hours_changed)),
                ("budget midnight", self.ledger.run), ("retention", self.retention.run),
                ("health", self._health_loop)]

    # --- opening hours ---------------------------------------------------------------------------

    async def _hours_changed(self, is_open: bool) -> None:
        await self._tell_hours(is_open)
        self.changed()
        if is_open and self.opened is not None:
            await self.opened()

    async def _tell_hours(self, is_open: bool) -> None:
        assert self.engine is not None
        now, opens_at, attract = self.clock.now(), self.hours.opens_at, self.attract_network()

        def event(state: RunnerState) -> Hours:
            slug = state.network.slug
            return Hours(is_open, now, opens_at, self.new_id() if is_open and slug == attract else None)

        await self.engine.broadcast(event)

    # --- boards ----------------------------------------------------------------------------------

    async def boards(self, seen: dict[str, Boards]) -> None:
        """The split-flap boards online per network changed (from the nodes' presence)."""
        if seen == self._boards or self.engine is None:
            return
        self._boards = seen
        await self.engine.broadcast(lambda state: BoardsSeen(seen.get(state.network.slug, NO_BOARDS))
                                    if seen.get(state.network.slug, NO_BOARDS) != state.boards else None)

    # --- health ----------------------------------------------------------------------------------

    async def read_health(self) -> Health:
        self.health = await asyncio.to_thread(read_health, Path(self.config.data_dir), self.retention.archive_bytes)
        return self.health

    async def _health_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.health.interval)  # the machine's own time, even on a fast clock
            before = self.health.as_dict(self.thresholds)["warnings"]
            await self.read_health()
            warnings = self.health.as_dict(self.thresholds)["warnings"]
            if warnings != before:
                for warning in warnings:
                    if warning not in before:
                        log.warning("health: %s", warning)
            self.changed()

    # --- the status ------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        return {"open": self.hours.open, "next_change": self.hours.next_change, "opens_at": self.hours.opens_at,
                "spend": self.ledger.status(), "health": self.health.as_dict(self.thresholds)}
