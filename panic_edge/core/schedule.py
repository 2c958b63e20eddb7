"""Opening hours: whether the installation is open at an instant, and when that next changes.

Weekly hours are lines like ``"mon-fri 10:00-18:00"``, ``"sat 10:00-16:00"``,
``"mon, wed 10:00-12:00"`` or ``"thu 18:00-02:00"`` (a window that ends at or before it starts
runs past midnight), several per day allowed (``"sun 10:00-12:00, 14:00-17:00"``): the days, then
the times from the first digit on. Dated exceptions replace a day's hours: ``"2026-12-25 closed"``,
``"2026-12-31 10:00-15:00"``. No hours at all means always open. In one environment variable the
lines are separated by ``;`` (``env_lines``); commas work too, read smartly.

Times are wall-clock times in the schedule's timezone, so a daylight-saving change moves the
instants, not the hours people read on the door. Pure: instants are POSIX timestamps given as
arguments; the timezone is a ``tzinfo`` the shell builds (``zoneinfo.ZoneInfo``).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
HORIZON_DAYS = 15  # how far ahead next_change looks; a schedule that never changes says None
_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}(\s|$)")


@dataclass(frozen=True)
class Window:
    """Open from ``start`` to ``end`` minutes after midnight; ``end`` > 1440 runs into the next day."""

    start: int
    end: int


@dataclass(frozen=True)
class Schedule:
    weekly: tuple[tuple[Window, ...], ...] = ((),) * 7  # by weekday, Monday first
    exceptions: dict[dt.date, tuple[Window, ...]] = field(default_factory=dict, hash=False)
    tz: dt.tzinfo = dt.UTC
    always_open: bool = True

    def windows_on(self, day: dt.date) -> tuple[Window, ...]:
        if day in self.exceptions:
            return self.exceptions[day]
        return self.weekly[day.weekday()]


def _minutes(text: str, where: str) -> int:
    match = _TIME.match(text.strip())
    if not match or int(match[1]) > 24 or int(match[2]) > 59 or (int(match[1]) == 24 and int(match[2])):
        raise ValueError(f"{where}: {text.strip()!r} is not a time like 10:00 or 18:30")
    return int(match[1]) * 60 + int(match[2])


def _windows(text: str, where: str) -> tuple[Window, ...]:
    out = []
    for part in text.split(","):
        start_text, dash, end_text = part.strip().partition("-")
        if not dash:
            raise ValueError(f"{where}: {part.strip()!r} must be a range like 10:00-18:00")
        start, end = _minutes(start_text, where), _minutes(end_text, where)
        if start == end:
            raise ValueError(f"{where}: {part.strip()!r} opens and closes at the same time")
        out.append(Window(start, end if end > start else end + 1440))
    return tuple(out)


def _days(text: str, where: str) -> list[int]:
    days: list[int] = []
    for part in text.lower().split(","):
        first, dash, last = (side.strip() for side in part.strip().partition("-"))
        if first not in DAYS or (dash and last not in DAYS):
            raise ValueError(f"{where}: {part.strip()!r} must name days like mon, sat or mon-fri")
        a, b = DAYS.index(first), DAYS.index(last) if dash else DAYS.index(first)
        days += [(a + i) % 7 for i in range((b - a) % 7 + 1)]
    return days


def parse_schedule(hours: Iterable[str], exceptions: Iterable[str] = (),
                   tz: dt.tzinfo = dt.UTC) -> Schedule:
    """Parse weekly ``hours`` and dated ``exceptions``. Raises ValueError naming the bad line."""
    weekly: list[list[Window]] = [[] for _ in DAYS]
    lines = list(hours)
    for number, line in enumerate(lines, 1):
        where = f"hours line {number} ({line.strip()!r})"[:120]
        digit = next((i for i, c in enumerate(line) if c.isdigit()), None)
        day_text, time_text = (line, "") if digit is None else (line[:digit].strip(), line[digit:])
        if not time_text.strip() or not day_text:
            raise ValueError(f"{where}: must look like 'mon-fri 10:00-18:00'")
        windows = _windows(time_text, where)
        for day in _days(day_text, where):
            weekly[day] += windows
    dated: dict[dt.date, tuple[Window, ...]] = {}
    for number, line in enumerate(exceptions, 1):
        where = f"exceptions line {number} ({line.strip()!r})"[:120]
        date_text, _, rest = line.strip().partition(" ")
        try:
            date = dt.date.fromisoformat(date_text)
        except ValueError:
            raise ValueError(f"{where}: must start with a date like 2026-12-25") from None
        dated[date] = () if rest.strip().lower() == "closed" else _windows(rest, where)
    return Schedule(tuple(tuple(w) for w in weekly), dated, tz, always_open=not lines and not dated)


def env_lines(raw: str) -> list[str]:
    """The hours (or exceptions) lines of one environment variable: separated by ``;``, or where
    there is none by commas, read smartly, since a line may hold commas itself: a part that starts
    with a time continues the line before (``"sun 10:00-12:00, 14:00-17:00"``), a part of days
    alone waits for the times of the next (``"mon, wed 10:00-12:00"``), anything else (days and
    times, or a date) starts a new line. What is not a line is left for parse_schedule to name."""
    if ";" in raw:
        return [part.strip() for part in raw.split(";") if part.strip()]
    lines: list[str] = []
    days = ""  # day names waiting for their times
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        if part[0].isdigit() and not _DATE.match(part) and lines and not days:
            lines[-1] += ", " + part
        elif not any(c.isdigit() for c in part):
            days += part + ", "
        else:
            lines.append(days + part)
            days = ""
    if days:
        lines.append(days.rstrip(", "))
    return lines


def _local(schedule: Schedule, day: dt.date, minutes: int) -> float:
    """The instant of ``minutes`` after midnight of ``day`` (may run past 1440) in the schedule's zone."""
    moment = dt.datetime.combine(day, dt.time()) + dt.timedelta(minutes=minutes)
    return moment.replace(tzinfo=schedule.tz).timestamp()


def _intervals(schedule: Schedule, day: dt.date) -> list[tuple[float, float]]:
    return [(_local(schedule, day, w.start), _local(schedule, day, w.end)) for w in schedule.windows_on(day)]


def is_open(schedule: Schedule, now: float) -> bool:
    """Whether the installation is open at ``now``."""
    if schedule.always_open:
        return True
    today = dt.datetime.fromtimestamp(now, schedule.tz).date()
    for day in (today - dt.timedelta(days=1), today):  # yesterday's window may run past midnight
        if any(start <= now < end for start, end in _intervals(schedule, day)):
            return True
    return False


def next_change(schedule: Schedule, now: float) -> float | None:
    """The next instant after ``now`` at which ``is_open`` changes; None if it does not within
    HORIZON_DAYS (an always-open schedule, or one whose hours are all closed)."""
    if schedule.always_open:
        return None
    today = dt.datetime.fromtimestamp(now, schedule.tz).date()
    edges = sorted({edge for offset in range(-1, HORIZON_DAYS + 1)
                    for interval in _intervals(schedule, today + dt.timedelta(days=offset))
                    for edge in interval if edge > now})
    state = is_open(schedule, now)
    for edge in edges:
        if is_open(schedule, edge) != state:
            return edge
    return None
