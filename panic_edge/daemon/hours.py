"""The opening hours in the daemon: the schedule from the config, and a task that announces each
opening and closing when it comes.

The rules (what is open when) are pure, in panic_edge.core.schedule; this shell owns the clock and
the machine's timezone.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from panic_edge.config import ScheduleConfig
from panic_edge.core.schedule import Schedule, is_open, next_change, parse_schedule

log = logging.getLogger("panic_edge.hours")

MAX_SLEEP = 3600.0  # re-read the clock at least hourly: a machine clock set by NTP late still works


def local_zone() -> dt.tzinfo:
    """The machine's timezone as a real zone (with its daylight-saving rules), UTC if unknown."""
    names = [os.environ.get("TZ", "").lstrip(":")]
    try:
        names.append(str(Path("/etc/localtime").resolve()).split("zoneinfo/", 1)[1])
    except (OSError, IndexError):
        pass
    try:
        names.append(Path("/etc/timezone").read_text(encoding="utf-8").strip())
    except OSError:
        pass
    for name in names:
        if name:
            try:
                return ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return dt.UTC


def schedule_of(config: ScheduleConfig) -> Schedule:
    zone = ZoneInfo(config.timezone) if config.timezone else local_zone()
    return parse_schedule(config.hours, config.exceptions, zone)


def when(schedule: Schedule, instant: float | None, now: float) -> str | None:
    """An instant as people read it on a door: ``Fri 10:00`` (the date too if a week or more away)."""
    if instant is None:
        return None
    moment = dt.datetime.fromtimestamp(instant, schedule.tz)
    return moment.strftime("%a %H:%M" if instant - now < 6 * 86400 else "%a %d %b %H:%M")


class OpeningHours:
    """``open`` and ``next_change`` now; ``run(on_change)`` calls ``on_change(open)`` at each change."""

    def __init__(self, schedule: Schedule, clock: Callable[[], float],
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.schedule = schedule
        self.clock = clock
        self.sleep = sleep

    @property
    def open(self) -> bool:
        return is_open(self.schedule, self.clock())

    @property
    def next_change(self) -> float | None:
        return next_change(self.schedule, self.clock())

    @property
    def opens_at(self) -> str | None:
        """When a closed installation opens next, as people read it; None while open."""
        return None if self.open else when(self.schedule, self.next_change, self.clock())

    async def run(self, on_change: Callable[[bool], Awaitable[None]]) -> None:
        if self.schedule.always_open:
            return
        state = self.open
        while True:
            change = self.next_change
            wait = MAX_SLEEP if change is None else min(MAX_SLEEP, max(0.0, change - self.clock()))
            await self.sleep(wait + 0.001)
            now_open = self.open
            if now_open != state:
                state = now_open
                log.info("the installation %s", "opens" if now_open else f"closes until {self.opens_at}")
                await on_change(now_open)
