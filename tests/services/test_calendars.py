"""Calendars from policy settings: country holidays expanded, explicit dates kept (no DB)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest

from ticketing.services.calendars import build_calendar, calendar_years, country_holiday_dates

WEEKDAY_HOURS = {day: [["09:00", "17:00"]] for day in ["mon", "tue", "wed", "thu", "fri"]}


@pytest.mark.parametrize(
    ("country", "years", "subdivision", "expected", "absent"),
    [
        ("NL", [2026], None, date(2026, 4, 27), date(2026, 4, 28)),  # King's Day
        ("nl", [2025, 2026], None, date(2025, 12, 25), date(2025, 12, 24)),  # any case
        ("DE", [2026], "BY", date(2026, 1, 6), date(2026, 1, 7)),  # Epiphany in Bavaria only
        ("US", [2026], None, date(2026, 7, 3), date(2026, 7, 2)),  # observed Independence Day
    ],
)
def test_country_holiday_dates(country, years, subdivision, expected, absent):
    dates = country_holiday_dates(country, years, subdivision)
    assert expected in dates
    assert absent not in dates
    assert {day.year for day in dates} == set(years)


def test_subdivision_holidays_differ_from_the_country():
    assert date(2026, 1, 6) not in country_holiday_dates("DE", [2026])


@pytest.mark.parametrize(
    ("country", "subdivision", "message"),
    [("ZZ", None, "'ZZ'"), ("NL", "XX", "'NL/XX'")],
)
def test_unknown_country_or_subdivision_is_a_value_error(country, subdivision, message):
    with pytest.raises(ValueError, match=message):
        country_holiday_dates(country, [2026], subdivision)


def test_build_calendar_merges_country_and_explicit_holidays():
    calendar = build_calendar(
        {
            "timezone": "Europe/Amsterdam",
            "hours": WEEKDAY_HOURS,
            "holidays": {"country": "NL", "dates": ["2026-12-24"]},
        },
        years=[2026],
    )
    assert {date(2026, 4, 27), date(2026, 12, 24), date(2026, 12, 25)} <= calendar.holidays
    assert not calendar.is_open(datetime(2026, 4, 27, 10, tzinfo=UTC))
    assert calendar.hours[0] == ((time(9), time(17)),)


def test_build_calendar_reads_the_subdivision():
    spec = {
        "timezone": "Europe/Berlin",
        "hours": WEEKDAY_HOURS,
        "holidays": {"country": "DE", "subdivision": "BY"},
    }
    assert date(2026, 1, 6) in build_calendar(spec, years=[2026]).holidays


@pytest.mark.parametrize(
    "spec",
    [
        {"timezone": "UTC", "hours": WEEKDAY_HOURS},
        {"timezone": "UTC", "hours": WEEKDAY_HOURS, "holidays": {"dates": ["2026-01-06"]}},
        {"24/7": True},
    ],
)
def test_build_calendar_without_a_country_needs_no_holiday_tables(spec):
    calendar = build_calendar(spec, years=[2026])
    assert calendar.holidays <= {date(2026, 1, 6)}


@pytest.mark.parametrize(
    "spec",
    [
        "not an object",
        {"timezone": "UTC", "hours": WEEKDAY_HOURS, "holidays": {"country": 31}},
        {
            "timezone": "UTC",
            "hours": WEEKDAY_HOURS,
            "holidays": {"country": "NL", "subdivision": 1},
        },
    ],
)
def test_build_calendar_refuses_malformed_specs(spec):
    with pytest.raises(ValueError):  # noqa: PT011 - each message is checked in the domain tests
        build_calendar(spec, years=[2026])


@pytest.mark.parametrize(
    ("instants", "ahead", "expected"),
    [
        ([datetime(2026, 5, 1, tzinfo=UTC)], 1, range(2026, 2028)),
        (
            [datetime(2027, 1, 1, tzinfo=UTC), datetime(2025, 12, 31, tzinfo=UTC)],
            0,
            range(2025, 2028),
        ),
    ],
)
def test_calendar_years_cover_the_instants_and_some_ahead(instants, ahead, expected):
    assert calendar_years(*instants, ahead=ahead) == expected


def test_calendar_years_needs_an_instant():
    with pytest.raises(ValueError, match="at least one"):
        calendar_years()
