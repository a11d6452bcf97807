"""Day and date parsing shared by the CLI and the server, and calendar days in a time zone (DST included)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from ringvault.archive.dates import day_window, parse_compact_day, parse_when, zone_named


def test_parse_compact_day() -> None:
    assert parse_compact_day("20240131") == date(2024, 1, 31)
    assert parse_compact_day(" 20240229 ") == date(2024, 2, 29)
    for bad in ("2024-01-31", "20230229", "20241301", "2024013", "abcdefgh", "２０２４０１０１", ""):
        with pytest.raises(ValueError, match="YYYYMMDD"):
            parse_compact_day(bad)


def test_parse_when() -> None:
    assert parse_when("2024-05-01") == datetime(2024, 5, 1, tzinfo=UTC)
    assert parse_when("2024-05-01", end=True) == datetime(2024, 5, 2, tzinfo=UTC)
    assert parse_when("2024-05-01T10:30") == datetime(2024, 5, 1, 10, 30, tzinfo=UTC)
    assert parse_when("2024-05-01T10:30+02:00") == datetime(2024, 5, 1, 8, 30, tzinfo=UTC)
    with pytest.raises(ValueError, match="is not a date; use YYYY-MM-DD"):
        parse_when("yesterday")


def test_day_window_follows_the_zone_and_dst() -> None:
    rome = ZoneInfo("Europe/Rome")
    start, end = day_window(date(2024, 7, 1), rome)
    assert (start, end) == (datetime(2024, 6, 30, 22, tzinfo=UTC), datetime(2024, 7, 1, 22, tzinfo=UTC))
    spring = day_window(date(2024, 3, 31), rome)  # clocks go forward: a 23-hour day
    assert spring[1] - spring[0] == timedelta(hours=23)
    autumn = day_window(date(2024, 10, 27), rome)  # clocks go back: a 25-hour day
    assert autumn[1] - autumn[0] == timedelta(hours=25)
    assert day_window(date(2024, 7, 1), UTC) == (datetime(2024, 7, 1, tzinfo=UTC), datetime(2024, 7, 2, tzinfo=UTC))


def test_zone_named_falls_back_to_utc() -> None:
    assert zone_named("America/New_York") == ZoneInfo("America/New_York")
    assert zone_named(None) is UTC and zone_named("") is UTC and zone_named("Mars/Olympus_Mons") is UTC
