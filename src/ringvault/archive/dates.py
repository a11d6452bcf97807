"""Dates and days as users type them, and calendar days in a device's time zone.

The CLI (``--since``/``--until``/``--date``) and the HTTP server (``/api/sync``, ``/api/events``, the seed-001
connector) read the same formats, so they are parsed here once; errors are ``ValueError`` with a one-line message
that says what to type instead.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["WHEN_FORMATS", "day_window", "parse_compact_day", "parse_when", "zone_named"]

WHEN_FORMATS = "YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS][+HH:MM]"


def parse_when(value: str, *, end: bool = False, wall_clock: bool = False) -> datetime:
    """``YYYY-MM-DD`` (a whole day: its start, or with ``end`` the start of the next day) or an ISO date-time.

    A value without an offset is UTC (an aware result), or with ``wall_clock`` stays naive: a wall-clock time the
    sync reads in each device's zone (``--timezone``). A value with an offset is that instant either way."""
    text = value.strip()
    zone = None if wall_clock else UTC
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            start = datetime(day.year, day.month, day.day, tzinfo=zone)
            return start + timedelta(days=1) if end else start
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{value!r} is not a date; use {WHEN_FORMATS}") from None
    return parsed.replace(tzinfo=zone) if parsed.tzinfo is None else parsed


def parse_compact_day(value: str) -> date:
    """``YYYYMMDD`` (seed 001's day format), e.g. ``20240131``."""
    text = value.strip()
    if len(text) != 8 or not (text.isascii() and text.isdigit()):
        raise ValueError(f"{value!r} is not a day; use YYYYMMDD, e.g. 20240131")
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        raise ValueError(f"{value!r} is not a valid day; use YYYYMMDD, e.g. 20240131") from None


def zone_named(name: str | None) -> tzinfo:
    """The IANA zone ``name`` (Ring's ``time_zone`` field); UTC when it is missing or unknown."""
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            return UTC
    return UTC


def day_window(day: date, zone: tzinfo) -> tuple[datetime, datetime]:
    """The instants ``[start, end)`` (UTC) of calendar day ``day`` in ``zone``: 23 or 25 hours on DST changes."""
    start = datetime.combine(day, time(0), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)
