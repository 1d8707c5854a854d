"""Business calendar: opening, next opening, business-time arithmetic, DST and long spans."""

from __future__ import annotations

import time as stopwatch
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ticketing.domain.calendar import BusinessCalendar, calendar_from_spec, parse_clock_time

AMSTERDAM = "Europe/Amsterdam"
NEW_YORK = "America/New_York"
WEEKDAYS_9_TO_5 = {day: ((time(9), time(17)),) for day in range(5)}
HOUR = 3600


def at(text: str, zone: str = "UTC") -> datetime:
    """Return the instant a local wall time like "2026-01-05 09:00" names in `zone`."""
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone))


def utc(text: str) -> datetime:
    return at(text, "UTC")


OFFICE = BusinessCalendar("UTC", WEEKDAYS_9_TO_5)  # 2026-01-05 is a Monday
OFFICE_WITH_LUNCH = BusinessCalendar(
    "UTC", {day: ((time(9), time(12)), (time(13), time(17))) for day in range(5)}
)
OFFICE_WITH_HOLIDAY = BusinessCalendar("UTC", WEEKDAYS_9_TO_5, frozenset({date(2026, 1, 6)}))
LATE_SHIFT = BusinessCalendar("UTC", {0: ((time(18), None),), 1: ((time(0), time(2)),)})
ALWAYS = BusinessCalendar("UTC", always_open=True)
AMSTERDAM_OFFICE = BusinessCalendar(AMSTERDAM, WEEKDAYS_9_TO_5)
AMSTERDAM_ALL_DAY = BusinessCalendar(AMSTERDAM, {day: ((time(0), None),) for day in range(7)})
NEW_YORK_ALL_DAY = BusinessCalendar(NEW_YORK, {day: ((time(0), None),) for day in range(7)})


# -- construction ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"timezone": "UTC", "hours": {}}, "needs opening hours"),
        ({"timezone": "Mars/Olympus", "hours": WEEKDAYS_9_TO_5}, "unknown timezone"),
        ({"timezone": "UTC", "hours": {7: ((time(9), time(17)),)}}, "weekday"),
        ({"timezone": "UTC", "hours": {0: ((time(17), time(9)),)}}, "must end after"),
        (
            {"timezone": "UTC", "hours": {0: ((time(9), time(13)), (time(12), time(17)))}},
            "overlap",
        ),
        ({"timezone": "UTC", "hours": {0: ((time(9), None), (time(12), time(17)))}}, "overlap"),
    ],
)
def test_construction_rejects_invalid_calendars(arguments, message):
    with pytest.raises(ValueError, match=message):
        BusinessCalendar(**arguments)


def test_construction_allows_always_open_without_hours():
    assert ALWAYS.is_open(utc("2026-01-04 03:00"))


def test_calendars_with_equal_settings_are_equal_and_hash_alike():
    unsorted = BusinessCalendar("UTC", {0: [(time(13), time(17)), (time(9), time(12))]})
    same = BusinessCalendar("UTC", {0: ((time(9), time(12)), (time(13), time(17)))})
    assert unsorted == same
    assert hash(unsorted) == hash(same)


def test_naive_instants_are_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        OFFICE.is_open(datetime(2026, 1, 5, 10))


# -- is_open ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("calendar", "instant", "expected"),
    [
        (OFFICE, utc("2026-01-05 09:00"), True),  # opening edge is inside
        (OFFICE, utc("2026-01-05 16:59:59"), True),
        (OFFICE, utc("2026-01-05 17:00"), False),  # closing edge is outside
        (OFFICE, utc("2026-01-05 08:59:59"), False),
        (OFFICE, utc("2026-01-10 12:00"), False),  # Saturday: a missing weekday is closed
        (OFFICE_WITH_LUNCH, utc("2026-01-05 12:30"), False),
        (OFFICE_WITH_LUNCH, utc("2026-01-05 13:00"), True),
        (OFFICE_WITH_HOLIDAY, utc("2026-01-06 12:00"), False),
        (LATE_SHIFT, utc("2026-01-05 23:59:59"), True),  # open until 24:00
        (LATE_SHIFT, utc("2026-01-06 00:00"), True),  # and on after midnight the next day
        (LATE_SHIFT, utc("2026-01-06 02:00"), False),
        (ALWAYS, utc("2026-12-25 03:00"), True),
        (AMSTERDAM_OFFICE, utc("2026-01-05 08:00"), True),  # 09:00 CET
        (AMSTERDAM_OFFICE, utc("2026-07-06 07:00"), True),  # 09:00 CEST
        (AMSTERDAM_OFFICE, utc("2026-07-06 15:00"), False),  # 17:00 CEST
        (AMSTERDAM_OFFICE, at("2026-01-05 12:00", NEW_YORK), False),  # any input zone
    ],
)
def test_is_open(calendar, instant, expected):
    assert calendar.is_open(instant) is expected


# -- next_opening ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("calendar", "instant", "expected"),
    [
        (OFFICE, utc("2026-01-05 10:00"), utc("2026-01-05 10:00")),  # open: itself
        (OFFICE, utc("2026-01-05 07:00"), utc("2026-01-05 09:00")),
        (OFFICE, utc("2026-01-05 17:00"), utc("2026-01-06 09:00")),
        (OFFICE, utc("2026-01-09 18:00"), utc("2026-01-12 09:00")),  # Friday evening -> Monday
        (OFFICE_WITH_LUNCH, utc("2026-01-05 12:15"), utc("2026-01-05 13:00")),
        (OFFICE_WITH_HOLIDAY, utc("2026-01-05 17:30"), utc("2026-01-07 09:00")),
        (AMSTERDAM_OFFICE, utc("2026-03-28 12:00"), utc("2026-03-30 07:00")),  # into CEST
    ],
)
def test_next_opening(calendar, instant, expected):
    assert calendar.next_opening(instant) == expected


def test_next_opening_returns_utc():
    opening = AMSTERDAM_OFFICE.next_opening(at("2026-01-05 07:00", AMSTERDAM))
    assert opening.tzinfo is UTC
    assert opening == utc("2026-01-05 08:00")


# -- add_business_time -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("calendar", "start", "seconds", "expected"),
    [
        (OFFICE, utc("2026-01-05 10:00"), 2 * HOUR, utc("2026-01-05 12:00")),
        (OFFICE, utc("2026-01-05 16:00"), HOUR, utc("2026-01-05 17:00")),  # due at closing
        (OFFICE, utc("2026-01-05 16:00"), 2 * HOUR, utc("2026-01-06 10:00")),
        (OFFICE, utc("2026-01-05 06:00"), HOUR, utc("2026-01-05 10:00")),  # counts from opening
        (OFFICE, utc("2026-01-09 16:30"), HOUR, utc("2026-01-12 09:30")),  # over the weekend
        (OFFICE, utc("2026-01-05 10:00"), 0, utc("2026-01-05 10:00")),  # zero while open
        (OFFICE, utc("2026-01-05 17:00"), 0, utc("2026-01-06 09:00")),  # zero while closed
        (OFFICE, utc("2026-01-05 09:00"), 40 * HOUR, utc("2026-01-09 17:00")),  # a week
        (OFFICE, utc("2026-01-05 09:00"), 41 * HOUR, utc("2026-01-12 10:00")),
        (OFFICE_WITH_LUNCH, utc("2026-01-05 11:30"), HOUR, utc("2026-01-05 13:30")),
        (OFFICE_WITH_HOLIDAY, utc("2026-01-05 16:00"), 2 * HOUR, utc("2026-01-07 10:00")),
        (LATE_SHIFT, utc("2026-01-05 23:00"), 2 * HOUR, utc("2026-01-06 01:00")),
        (ALWAYS, utc("2026-01-05 23:00"), 2 * HOUR, utc("2026-01-06 01:00")),
        (OFFICE, utc("2026-01-05 10:00"), 0.5, utc("2026-01-05 10:00:00.500000")),
    ],
)
def test_add_business_time(calendar, start, seconds, expected):
    assert calendar.add_business_time(start, seconds) == expected


@pytest.mark.parametrize("seconds", [-1, float("nan"), float("inf")])
def test_add_business_time_rejects_impossible_amounts(seconds):
    with pytest.raises(ValueError, match="seconds"):
        OFFICE.add_business_time(utc("2026-01-05 10:00"), seconds)


# -- business_seconds_between ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("calendar", "start", "end", "expected"),
    [
        (OFFICE, utc("2026-01-05 10:00"), utc("2026-01-05 09:00"), 0),  # reversed
        (OFFICE, utc("2026-01-05 10:00"), utc("2026-01-05 10:00"), 0),
        (OFFICE, utc("2026-01-05 10:00"), utc("2026-01-05 12:30"), 2.5 * HOUR),
        (OFFICE, utc("2026-01-05 18:00"), utc("2026-01-06 08:00"), 0),  # overnight
        (OFFICE, utc("2026-01-09 16:00"), utc("2026-01-12 10:00"), 2 * HOUR),  # weekend
        (OFFICE, utc("2026-01-05 00:00"), utc("2026-02-02 00:00"), 160 * HOUR),  # four weeks
        (OFFICE_WITH_LUNCH, utc("2026-01-05 11:00"), utc("2026-01-05 14:00"), 2 * HOUR),
        (OFFICE_WITH_HOLIDAY, utc("2026-01-05 00:00"), utc("2026-01-12 00:00"), 32 * HOUR),
        (ALWAYS, utc("2026-01-05 10:00"), utc("2026-01-06 10:00"), 24 * HOUR),
    ],
)
def test_business_seconds_between(calendar, start, end, expected):
    assert calendar.business_seconds_between(start, end) == expected


# -- daylight saving time and unusual offsets ------------------------------------------------


@pytest.mark.parametrize(
    ("calendar", "day", "expected_hours"),
    [
        (AMSTERDAM_ALL_DAY, "2026-03-29", 23),  # spring forward: the local day is 23 h long
        (AMSTERDAM_ALL_DAY, "2026-10-25", 25),  # fall back: 25 h
        (AMSTERDAM_ALL_DAY, "2026-06-01", 24),
        (NEW_YORK_ALL_DAY, "2026-03-08", 23),
        (NEW_YORK_ALL_DAY, "2026-11-01", 25),
        (BusinessCalendar(AMSTERDAM, {6: ((time(9), time(17)),)}), "2026-03-29", 8),
        # Opening inside the skipped hour: open from the jump (03:00 CEST) to 04:00.
        (BusinessCalendar(AMSTERDAM, {6: ((time(2, 30), time(4)),)}), "2026-03-29", 1),
        # Opening inside the repeated hour: from its first occurrence to 04:00 CET.
        (BusinessCalendar(AMSTERDAM, {6: ((time(2, 30), time(4)),)}), "2026-10-25", 2.5),
        # An interval wholly inside the skipped hour does not happen that day.
        (BusinessCalendar(AMSTERDAM, {6: ((time(2, 10), time(2, 50)),)}), "2026-03-29", 0),
    ],
)
def test_local_day_length_follows_dst(calendar, day, expected_hours):
    start = at(f"{day} 00:00", calendar.timezone)
    next_day = date.fromisoformat(day) + timedelta(days=1)
    end = datetime.combine(next_day, time(0), ZoneInfo(calendar.timezone))
    assert calendar.business_seconds_between(start, end) == expected_hours * HOUR


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        (utc("2026-11-01 05:30"), True),  # 01:30 EDT, first pass through the repeated hour
        (utc("2026-11-01 06:30"), True),  # 01:30 EST, second pass
        (utc("2026-11-01 07:00"), False),  # 02:00 EST
    ],
)
def test_repeated_hour_is_open_on_both_passes(instant, expected):
    calendar = BusinessCalendar(NEW_YORK, {6: ((time(1), time(2)),)})
    assert calendar.is_open(instant) is expected


@pytest.mark.parametrize(
    ("zone", "start", "seconds", "expected"),
    [
        ("Asia/Kolkata", "2026-01-05 16:00", 2 * HOUR, "2026-01-06 10:00"),  # UTC+05:30
        ("Asia/Kolkata", "2026-01-05 08:00", HOUR, "2026-01-05 10:00"),
        # Adelaide leaves daylight time (+10:30 -> +09:30) on Sunday 2026-04-05.
        ("Australia/Adelaide", "2026-04-03 16:00", 2 * HOUR, "2026-04-06 10:00"),
        # America/New_York springs forward on Sunday 2026-03-08.
        (NEW_YORK, "2026-03-06 16:30", HOUR, "2026-03-09 09:30"),
        (AMSTERDAM, "2026-10-23 16:00", 3 * HOUR, "2026-10-26 11:00"),
    ],
)
def test_add_business_time_in_local_hours(zone, start, seconds, expected):
    calendar = BusinessCalendar(zone, WEEKDAYS_9_TO_5)
    assert calendar.add_business_time(at(start, zone), seconds) == at(expected, zone)


def test_all_day_calendar_counts_real_time_across_dst():
    start, end = at("2026-03-27 12:00", AMSTERDAM), at("2026-03-30 12:00", AMSTERDAM)
    assert AMSTERDAM_ALL_DAY.business_seconds_between(start, end) == 71 * HOUR
    assert AMSTERDAM_ALL_DAY.add_business_time(start, 71 * HOUR) == end


# -- long spans ------------------------------------------------------------------------------


def test_thirty_days_of_business_time_is_fast_and_exact():
    holidays = frozenset({date(2026, 4, 3), date(2026, 4, 6), date(2026, 4, 27), date(2026, 5, 14)})
    calendar = BusinessCalendar(AMSTERDAM, WEEKDAYS_9_TO_5, holidays)
    start = at("2026-01-05 09:00", AMSTERDAM)
    began = stopwatch.perf_counter()
    due = calendar.add_business_time(start, 30 * 24 * HOUR)  # 90 working days of 8 hours
    counted = calendar.business_seconds_between(start, due)
    assert stopwatch.perf_counter() - began < 0.5
    assert counted == 30 * 24 * HOUR
    assert due == at("2026-05-13 17:00", AMSTERDAM)  # 18 weeks plus 3 holidays on the way


def test_sparse_calendar_over_years_is_fast():
    one_hour_a_week = BusinessCalendar(AMSTERDAM, {2: ((time(10), time(11)),)})
    start = at("2026-01-05 09:00", AMSTERDAM)
    began = stopwatch.perf_counter()
    due = one_hour_a_week.add_business_time(start, 500 * HOUR)  # nearly ten years
    assert one_hour_a_week.business_seconds_between(start, due) == 500 * HOUR
    assert stopwatch.perf_counter() - began < 1.0
    assert due.astimezone(ZoneInfo(AMSTERDAM)).time() == time(11)


# -- calendar_from_spec ----------------------------------------------------------------------


def test_spec_with_hours_holiday_dates_and_24_00():
    calendar = calendar_from_spec(
        {
            "timezone": AMSTERDAM,
            "hours": {"mon": [["09:00", "12:00"], ["13:00", "17:30"]], "Sat": [["20:00", "24:00"]]},
            "holidays": {"dates": ["2026-12-24"]},
        },
        holiday_dates=[date(2026, 12, 25)],
    )
    assert calendar.hours == {
        0: ((time(9), time(12)), (time(13), time(17, 30))),
        5: ((time(20), None),),
    }
    assert calendar.holidays == {date(2026, 12, 24), date(2026, 12, 25)}
    assert not calendar.always_open


def test_spec_for_24_7_needs_no_timezone():
    calendar = calendar_from_spec({"24/7": True})
    assert calendar.always_open
    assert calendar.timezone == "UTC"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"hours": {"mon": [["09:00", "17:00"]]}}, "timezone"),
        ({"timezone": "UTC", "hours": {"someday": [["09:00", "17:00"]]}}, "unknown weekday"),
        ({"timezone": "UTC", "hours": {"mon": [["9am", "5pm"]]}}, "expected a time"),
        ({"timezone": "UTC", "hours": {"mon": [["09:00"]]}}, r"expected \[start, end\]"),
        ({"timezone": "UTC", "hours": {"mon": [["22:00", "06:00"]]}}, "must end after"),
        ({"timezone": "UTC", "hours": {"mon": [["24:00", "24:00"]]}}, "not a valid time"),
        ({"timezone": "UTC"}, "needs opening hours"),
        ({"timezone": "UTC", "24/7": True, "hours": {"mon": [["09:00", "17:00"]]}}, "either"),
        ({"timezone": "UTC", "24/7": "yes"}, "true or false"),
        (
            {
                "timezone": "UTC",
                "hours": {"mon": [["09:00", "17:00"]]},
                "holidays": {"dates": ["x"]},
            },
            "ISO date",
        ),
    ],
)
def test_spec_errors_name_the_culprit(spec, message):
    with pytest.raises(ValueError, match=message):
        calendar_from_spec(spec)


@pytest.mark.parametrize(
    ("text", "is_end", "expected"),
    [
        ("09:00", False, time(9)),
        ("9:05", False, time(9, 5)),
        ("17:30:15", False, time(17, 30, 15)),
        ("24:00", True, None),
        ("00:00", True, None),
        ("00:00", False, time(0)),
    ],
)
def test_parse_clock_time(text, is_end, expected):
    assert parse_clock_time(text, is_end=is_end) == expected


# -- properties --------------------------------------------------------------------------------

ZONES = [
    "UTC",
    AMSTERDAM,
    NEW_YORK,
    "Asia/Kolkata",
    "Australia/Adelaide",
    "Australia/Lord_Howe",  # a 30-minute DST shift
    "America/Santiago",  # transitions at midnight
    "America/Havana",  # springs forward at midnight, falls back at 01:00
]
EPOCH = datetime(2025, 12, 1, tzinfo=UTC)
PROPERTY_SETTINGS = settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@st.composite
def intervals_of_a_day(draw):
    """Draw sorted, non-overlapping opening intervals on a 15-minute grid (end None = 24:00)."""
    edges = sorted(draw(st.sets(st.integers(0, 96), max_size=6)))
    if len(edges) % 2:
        edges = edges[:-1]
    intervals = []
    for opens, closes in zip(edges[::2], edges[1::2], strict=True):
        start = time(opens // 4, opens % 4 * 15)
        intervals.append((start, None if closes == 96 else time(closes // 4, closes % 4 * 15)))
    return tuple(intervals)


@st.composite
def calendars(draw):
    zone = draw(st.sampled_from(ZONES))
    hours = {day: draw(intervals_of_a_day()) for day in range(7)}
    if not any(hours.values()):
        hours[draw(st.integers(0, 6))] = ((time(9), time(17)),)
    holidays = draw(st.frozensets(st.dates(date(2025, 12, 1), date(2027, 6, 30)), max_size=15))
    return BusinessCalendar(zone, hours, holidays)


instants = st.integers(0, 500 * 24 * 60).map(lambda minutes: EPOCH + timedelta(minutes=minutes))
amounts = st.integers(0, 60 * 24 * 3600)  # up to 60 days of business time, in seconds


@PROPERTY_SETTINGS
@given(calendar=calendars(), start=instants, seconds=amounts)
def test_adding_then_measuring_gives_the_amount_back(calendar, start, seconds):
    due = calendar.add_business_time(start, seconds)
    assert due >= start
    assert due.tzinfo is UTC
    assert calendar.business_seconds_between(start, due) == seconds


@PROPERTY_SETTINGS
@given(calendar=calendars(), start=instants, seconds=st.integers(1, 30 * 24 * 3600))
def test_added_time_ends_at_the_earliest_instant(calendar, start, seconds):
    due = calendar.add_business_time(start, seconds)
    just_before = due - timedelta(microseconds=1)
    assert calendar.business_seconds_between(start, just_before) < seconds
    assert calendar.is_open(just_before)


@PROPERTY_SETTINGS
@given(calendar=calendars(), start=instants)
def test_adding_zero_is_the_next_opening_which_is_open(calendar, start):
    opening = calendar.add_business_time(start, 0)
    assert opening == calendar.next_opening(start)
    assert calendar.is_open(opening)
    assert calendar.business_seconds_between(start, opening) == 0


@PROPERTY_SETTINGS
@given(calendar=calendars(), start=instants, days=st.integers(0, 120), extra=st.integers(0, 1439))
def test_week_skipping_agrees_with_summing_day_by_day(calendar, start, days, extra):
    end = start + timedelta(days=days, minutes=extra)
    by_day = 0.0
    piece_start = start
    while piece_start < end:
        piece_end = min(piece_start + timedelta(hours=20), end)  # too short to skip a week
        by_day += calendar.business_seconds_between(piece_start, piece_end)
        piece_start = piece_end
    assert calendar.business_seconds_between(start, end) == by_day


@PROPERTY_SETTINGS
@given(calendar=calendars(), start=instants, first=amounts, second=amounts)
def test_adding_in_two_steps_lands_no_earlier_than_in_one(calendar, start, first, second):
    in_one = calendar.add_business_time(start, first + second)
    in_two = calendar.add_business_time(calendar.add_business_time(start, first), second)
    # Equal, except that a step ending at a closing edge may wait for the next opening.
    assert in_two >= in_one
    assert calendar.business_seconds_between(in_one, in_two) == 0


@settings(max_examples=80, deadline=None)
@given(zone=st.sampled_from(ZONES), start=instants, minutes=st.integers(0, 90 * 24 * 60))
def test_a_calendar_open_all_day_counts_real_elapsed_time(zone, start, minutes):
    calendar = BusinessCalendar(zone, {day: ((time(0), None),) for day in range(7)})
    end = start + timedelta(minutes=minutes)
    assert calendar.business_seconds_between(start, end) == minutes * 60
    assert calendar.add_business_time(start, minutes * 60) == end
