"""Opening hours of a queue: a weekly schedule, the production calendar, extra closed days.

Seed 000 says the line works 8:00-20:00 daily, seed 001 says 24/7, and the special-case
line is 24/7: so hours belong to each queue.  Russia's production calendar moves
working days around holidays (a Saturday can be a working day, a Monday a day off);
a queue that follows the calendar (``holidays: calendar``) is closed on its
holidays and keeps its weekday hours on transferred working days.

Everything here is pure: the caller passes the moment as epoch seconds.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_GROUPS = {"daily": DAYS, "weekdays": DAYS[:5], "weekend": DAYS[5:]}


@dataclass(frozen=True)
class TimeRange:
    """Minutes from midnight, ``end`` exclusive; ``24:00`` is 1440."""

    start: int
    end: int

    def __contains__(self, minute: int) -> bool:
        return self.start <= minute < self.end

    def __str__(self) -> str:
        return (
            f"{self.start // 60:02d}:{self.start % 60:02d}-{self.end // 60:02d}:{self.end % 60:02d}"
        )


def parse_ranges(text: Any) -> tuple[TimeRange, ...]:
    """``"08:00-20:00"``, ``"08:00-13:00, 14:00-20:00"``, ``"closed"`` or ``"24h"``."""
    if not isinstance(text, str):
        raise ValueError(f"expected hours like '08:00-20:00' or 'closed', got {text!r}")  # noqa: TRY004 - the converter reports ValueError
    text = text.strip().lower()
    if text in ("closed", "off", "-"):
        return ()
    if text in ("24h", "00:00-24:00"):
        return (TimeRange(0, 1440),)
    ranges = []
    for part in text.split(","):
        start_text, sep, end_text = part.strip().partition("-")
        if not sep:
            raise ValueError(f"expected a range like '08:00-20:00', got {part.strip()!r}")
        start, end = _minute(start_text), _minute(end_text)
        if end <= start:
            raise ValueError(f"range {part.strip()!r} ends before it starts")
        ranges.append(TimeRange(start, end))
    return tuple(sorted(ranges, key=lambda r: r.start))


def _minute(text: str) -> int:
    hours, sep, minutes = text.strip().partition(":")
    if not sep or not hours.isdigit() or not minutes.isdigit() or len(minutes) != 2:
        raise ValueError(f"expected a time like '08:00', got {text.strip()!r}")
    value = int(hours) * 60 + int(minutes)
    if int(minutes) > 59 or value > 1440:
        raise ValueError(f"no such time of day: {text.strip()!r}")
    return value


def parse_weekly(raw: Any) -> Mapping[str, tuple[TimeRange, ...]]:
    """``{daily: 08:00-20:00, sun: closed}``: groups first, single days override."""
    if raw == "24/7":
        return {day: (TimeRange(0, 1440),) for day in DAYS}
    if not isinstance(raw, dict):
        raise ValueError("expected a mapping of days to hours, or '24/7'")  # noqa: TRY004
    week: dict[str, tuple[TimeRange, ...]] = {day: () for day in DAYS}
    for key in sorted(raw, key=lambda k: 0 if k in _GROUPS else 1):
        days = _GROUPS.get(key, (key,) if key in DAYS else None)
        if days is None:
            raise ValueError(f"unknown day {key!r} (use mon..sun, daily, weekdays, weekend)")
        for day in days:
            week[day] = parse_ranges(raw[key])
    return week


def parse_dates(raw: Any) -> frozenset[dt.date]:
    if raw is None:
        return frozenset()
    if not isinstance(raw, list):
        raise ValueError("expected a list of dates like 2026-01-07")  # noqa: TRY004
    dates = set()
    for item in raw:
        if isinstance(item, dt.date):
            dates.add(item)
        else:
            try:
                dates.add(dt.date.fromisoformat(str(item)))
            except ValueError:
                raise ValueError(f"not a date: {item!r} (use YYYY-MM-DD)") from None
    return frozenset(dates)


def parse_zone(raw: Any) -> str:
    try:
        ZoneInfo(str(raw))
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {raw!r}") from None
    return str(raw)


@dataclass(frozen=True)
class Calendar:
    """A production calendar: days off and transferred working days."""

    holidays: frozenset[dt.date] = field(default_factory=frozenset, metadata={"parse": parse_dates})
    workdays: frozenset[dt.date] = field(default_factory=frozenset, metadata={"parse": parse_dates})


@dataclass(frozen=True)
class Hours:
    """When a queue takes calls.  Default: 24/7, like the special-case line."""

    timezone: str = field(default="Europe/Moscow", metadata={"parse": parse_zone})
    weekly: Mapping[str, tuple[TimeRange, ...]] = field(
        default_factory=lambda: parse_weekly("24/7"), metadata={"parse": parse_weekly}
    )
    # 'calendar': closed on the production calendar's holidays, weekday hours on its
    # transferred working days; 'ignore': the calendar does not apply.
    holidays: Literal["calendar", "ignore"] = "ignore"
    closed: frozenset[dt.date] = field(default_factory=frozenset, metadata={"parse": parse_dates})

    def ranges_on(self, day: dt.date, calendar: Calendar | None) -> tuple[TimeRange, ...]:
        if day in self.closed:
            return ()
        weekday = DAYS[day.weekday()]
        if self.holidays == "calendar" and calendar is not None:
            if day in calendar.holidays:
                return ()
            if day in calendar.workdays and weekday in ("sat", "sun"):
                return self.weekly["mon"]
        return self.weekly[weekday]

    def is_open(self, at: float, calendar: Calendar | None = None) -> bool:
        local = dt.datetime.fromtimestamp(at, ZoneInfo(self.timezone))
        minute = local.hour * 60 + local.minute
        return any(minute in r for r in self.ranges_on(local.date(), calendar))

    def next_open(
        self, at: float, calendar: Calendar | None = None, *, days: int = 14
    ) -> float | None:
        """The first moment at or after ``at`` when the queue is open (``None``: not soon)."""
        zone = ZoneInfo(self.timezone)
        local = dt.datetime.fromtimestamp(at, zone)
        if self.is_open(at, calendar):
            return at
        for offset in range(days + 1):
            day = local.date() + dt.timedelta(days=offset)
            for r in self.ranges_on(day, calendar):
                start = dt.datetime.combine(day, dt.time(), zone) + dt.timedelta(minutes=r.start)
                end = dt.datetime.combine(day, dt.time(), zone) + dt.timedelta(minutes=r.end)
                if end.timestamp() > at:
                    return max(start.timestamp(), at)
        return None
