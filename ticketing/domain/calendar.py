"""Business-hours calendar: which instants are open, and business-time arithmetic over them."""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

#: One opening interval in local wall-clock time; an end of None means 24:00 (the next midnight).
Interval = tuple[time, time | None]

WEEKDAY_NAMES: Mapping[str, int] = MappingProxyType(
    {
        "mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6,
        "monday": 0, "tuesday": 1, "wednesday": 2, "thursday": 3, "friday": 4,
        "saturday": 5, "sunday": 6,
    }
)  # fmt: skip

_DAY = timedelta(days=1)
_WEEK = timedelta(days=7)
_ZERO = timedelta(0)
_MICROSECOND = timedelta(microseconds=1)
# Day-by-day results are cached per calendar; a long-running process touches a few thousand
# local dates at most, so a bounded dict is plenty and avoids an LRU's bookkeeping.
_DAY_CACHE_LIMIT = 20_000
_CLOCK_TEXT = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")


def _require_aware(instant: datetime, name: str = "instant") -> datetime:
    """Return `instant` in UTC, refusing naive datetimes (their meaning would be a guess)."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got {instant!r}")
    return instant.astimezone(UTC)


def _wall_length(start: time, end: time | None) -> timedelta:
    """Return the nominal wall-clock length of an interval (its length on a day without DST)."""
    end_seconds = 86_400 if end is None else _seconds_of(end)
    return timedelta(seconds=end_seconds - _seconds_of(start))


def _seconds_of(moment: time) -> float:
    return moment.hour * 3600 + moment.minute * 60 + moment.second + moment.microsecond / 1e6


@dataclass(frozen=True)
class BusinessCalendar:
    """Weekly opening hours in an IANA timezone, minus holidays, or simply 24/7.

    Business time is real elapsed time while the calendar is open. Opening intervals are
    half-open, ``[opens, closes)``: a ticket arriving at 17:00 sharp when the desk closes at
    17:00 waits for the next opening.

    Wall-clock times are mapped to instants as "the first instant the local clock reads that
    time or later". So a time skipped by a spring-forward jump (02:30 in Amsterdam on the last
    Sunday of March) maps to the jump itself (03:00 CEST), and a time repeated by a fall-back
    (02:30 on the last Sunday of October) maps to its first occurrence. An interval spanning a
    transition is therefore an hour shorter or longer than on other days.

    ``always_open`` means every instant of every day counts, holidays included, and `hours`
    are ignored (a 24/7 desk that closes on holidays is written as 00:00-24:00 on all seven
    days plus holidays).
    All results are UTC datetimes; all datetime arguments must be timezone-aware.
    """

    timezone: str
    hours: Mapping[int, tuple[Interval, ...]] = field(default_factory=dict)
    holidays: frozenset[date] = frozenset()
    always_open: bool = False
    # Derived in __post_init__; not part of the value (equality, hashing, repr).
    _zone: ZoneInfo = field(init=False, repr=False, compare=False)
    _week_length: timedelta = field(init=False, repr=False, compare=False)
    _sorted_holidays: tuple[date, ...] = field(init=False, repr=False, compare=False)
    _day_cache: dict[date, tuple[tuple[datetime, datetime], ...]] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        try:
            zone = ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError, TypeError) as error:
            raise ValueError(f"unknown timezone {self.timezone!r}") from error
        hours = MappingProxyType(_normalise_hours(self.hours))
        holidays = frozenset(self.holidays)
        for holiday in holidays:
            if not isinstance(holiday, date) or isinstance(holiday, datetime):
                raise ValueError(f"holidays must be dates, got {holiday!r}")
        week_length = sum(
            (_wall_length(start, end) for day in hours.values() for start, end in day), _ZERO
        )
        if not self.always_open and week_length <= _ZERO:
            raise ValueError("a calendar needs opening hours unless it is always open (24/7)")
        # Frozen dataclass: derived state is set once here, through object.__setattr__.
        object.__setattr__(self, "hours", hours)
        object.__setattr__(self, "holidays", holidays)
        object.__setattr__(self, "_zone", zone)
        object.__setattr__(self, "_week_length", week_length)
        object.__setattr__(self, "_sorted_holidays", tuple(sorted(holidays)))
        object.__setattr__(self, "_day_cache", {})

    def __hash__(self) -> int:
        return hash((self.timezone, tuple(sorted(self.hours.items())), self.holidays,
                     self.always_open))  # fmt: skip

    # -- public API ---------------------------------------------------------------------------

    def is_open(self, at: datetime) -> bool:
        """Tell whether business time is counting at the instant `at`."""
        at = _require_aware(at, "at")
        if self.always_open:
            return True
        local_day = self._local_date(at)
        # The neighbouring days are checked too: around a fall-back at midnight an instant
        # can carry one local date while lying in an interval that belongs to the other.
        for day in (local_day - _DAY, local_day, local_day + _DAY):
            for opens, closes in self._day_intervals(day):
                if opens <= at < closes:
                    return True
        return False

    def next_opening(self, at: datetime) -> datetime:
        """Return `at` itself if the calendar is open then, else the start of the next opening."""
        at = _require_aware(at, "at")
        if self.always_open:
            return at
        for opens, closes in self._intervals_from(self._local_date(at) - _DAY):
            if closes > at:
                return max(opens, at)
        raise AssertionError("unreachable: _intervals_from never ends")  # pragma: no cover

    def add_business_time(self, start: datetime, seconds: float) -> datetime:
        """Return the instant at which `seconds` of business time have passed since `start`.

        Counting begins at ``next_opening(start)``, so ``seconds == 0`` gives `start` when the
        calendar is open and the next opening when it is closed. For ``seconds > 0`` the result
        is the earliest instant that completes the amount, which can be a closing instant
        (a 60-minute target started at 16:00 is due at 17:00 sharp, not at the next opening).

        Raises:
            ValueError: for negative or non-finite `seconds`, or a naive `start`.
        """
        start = _require_aware(start, "start")
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError(f"seconds must be a finite number >= 0, got {seconds!r}")
        return self._add(start, timedelta(seconds=seconds))

    def business_seconds_between(self, start: datetime, end: datetime) -> float:
        """Return the business seconds in ``[start, end)``; 0 when `end` is not after `start`."""
        start = _require_aware(start, "start")
        end = _require_aware(end, "end")
        return self._between(start, end).total_seconds()

    # -- arithmetic -----------------------------------------------------------------------------

    def _add(self, start: datetime, amount: timedelta) -> datetime:
        if self.always_open:
            return start + amount
        remaining = amount
        start_day = self._local_date(start)
        day = start_day - _DAY
        while True:
            # Whole weeks are skipped only strictly after the start's day (so the week lies
            # entirely after `start`) and only while more than a week remains (so the answer
            # is never the closing edge of a skipped week).
            if day >= start_day + 2 * _DAY and remaining > self._week_length:
                weeks = self._plain_weeks_from(day, limit=self._weeks_strictly_below(remaining))
                if weeks:
                    day += weeks * _WEEK
                    remaining -= weeks * self._week_length
                    continue
            for opens, closes in self._day_intervals(day):
                if closes <= start:
                    continue
                opens = max(opens, start)
                available = closes - opens
                if remaining == _ZERO:
                    return opens
                if remaining <= available:
                    return opens + remaining
                remaining -= available
            day += _DAY

    def _between(self, start: datetime, end: datetime) -> timedelta:
        if end <= start:
            return _ZERO
        if self.always_open:
            return end - start
        total = _ZERO
        start_day = self._local_date(start)
        day = start_day - _DAY
        while self._wall_to_utc(day, time(0)) < end:
            if day >= start_day + 2 * _DAY:
                weeks = self._plain_weeks_from(day, until=end)
                if weeks:
                    day += weeks * _WEEK
                    total += weeks * self._week_length
                    continue
            for opens, closes in self._day_intervals(day):
                overlap = min(closes, end) - max(opens, start)
                if overlap > _ZERO:
                    total += overlap
            day += _DAY
        return total

    def _weeks_strictly_below(self, amount: timedelta) -> int:
        """Return how many whole weeks of opening time fit in `amount` with some left over."""
        return math.ceil(amount / self._week_length) - 1

    def _plain_weeks_from(
        self, day: date, *, limit: int | None = None, until: datetime | None = None
    ) -> int:
        """Count consecutive plain weeks from local midnight of `day`.

        A plain week has no holiday and no UTC-offset change, so its opening time is exactly
        the nominal weekly total and can be added without looking at single days. Counting
        stops after `limit` weeks, or at the last week that ends by `until`.
        """
        weeks = 0
        offset = self._wall_offset(day)
        while limit is None or weeks < limit:
            week_start = day + weeks * _WEEK
            week_end = week_start + _WEEK
            if until is not None and self._wall_to_utc(week_end, time(0)) > until:
                break
            if self._has_holiday(week_start, week_end):
                break
            # Comparing the offset at each local midnight finds every transition, given that
            # no zone changes its offset twice within one day.
            if any(self._wall_offset(week_start + n * _DAY) != offset for n in range(1, 8)):
                break
            weeks += 1
        return weeks

    def _has_holiday(self, first: date, stop: date) -> bool:
        index = bisect.bisect_left(self._sorted_holidays, first)
        return index < len(self._sorted_holidays) and self._sorted_holidays[index] < stop

    # -- local days -----------------------------------------------------------------------------

    def _intervals_from(self, day: date) -> Iterator[tuple[datetime, datetime]]:
        """Yield the UTC opening intervals of `day` and every later local date, in order.

        This never ends: a calendar with weekly hours opens again once its finite set of
        holidays is behind it (validated at construction).
        """
        while True:
            yield from self._day_intervals(day)
            day += _DAY

    def _day_intervals(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        cache = self._day_cache
        cached = cache.get(day)
        if cached is not None:
            return cached
        intervals: list[tuple[datetime, datetime]] = []
        if day not in self.holidays:
            for start, end in self.hours.get(day.weekday(), ()):
                opens = self._wall_to_utc(day, start)
                if end is None:
                    closes = self._wall_to_utc(day + _DAY, time(0))
                else:
                    closes = self._wall_to_utc(day, end)
                # An interval lying wholly inside a spring-forward gap never happens that day.
                if closes > opens:
                    intervals.append((opens, closes))
        if len(cache) >= _DAY_CACHE_LIMIT:
            cache.clear()
        result = tuple(intervals)
        cache[day] = result
        return result

    def _local_date(self, instant: datetime) -> date:
        return instant.astimezone(self._zone).date()

    def _wall_offset(self, day: date) -> timedelta | None:
        """Return the UTC offset the zone gives the wall time 00:00 of `day` (fold=0)."""
        return datetime.combine(day, time(0), tzinfo=self._zone).utcoffset()

    def _wall_to_utc(self, day: date, moment: time) -> datetime:
        """Map a local wall time to the first instant at which the local clock shows it or later.

        Existing times use fold=0, which is their first occurrence when a fall-back repeats
        them. A time inside a spring-forward gap never shows on the clock; the first instant
        showing a later time is the jump itself, found by bisection between the two readings
        zoneinfo offers for the gap (PEP 495 maps it with the offset before and after).
        """
        zone = self._zone
        naive = datetime.combine(day, moment)
        after_jump = naive.replace(tzinfo=zone).astimezone(UTC)
        if after_jump.astimezone(zone).replace(tzinfo=None) == naive:
            return after_jump
        before_jump = naive.replace(tzinfo=zone, fold=1).astimezone(UTC)
        low, high = before_jump, after_jump  # wall(low) < naive <= wall(high)
        while high - low > _MICROSECOND:
            middle = low + (high - low) / 2
            if middle.astimezone(zone).replace(tzinfo=None) >= naive:
                high = middle
            else:
                low = middle
        return high


def _normalise_hours(hours: Mapping[int, Iterable[Interval]]) -> dict[int, tuple[Interval, ...]]:
    """Validate weekly hours and return them sorted, without empty days."""
    normalised: dict[int, tuple[Interval, ...]] = {}
    for weekday, intervals in hours.items():
        if not isinstance(weekday, int) or isinstance(weekday, bool) or not 0 <= weekday <= 6:
            raise ValueError(f"weekday must be 0 (Monday) to 6 (Sunday), got {weekday!r}")
        checked: list[Interval] = []
        for interval in intervals:
            start, end = interval
            if not isinstance(start, time) or (end is not None and not isinstance(end, time)):
                raise ValueError(f"interval must be (time, time or None), got {interval!r}")
            if start.tzinfo is not None or (end is not None and end.tzinfo is not None):
                raise ValueError("opening times are local wall-clock times and must be naive")
            if end is not None and end <= start:
                raise ValueError(
                    f"interval {start:%H:%M}-{end:%H:%M} must end after it starts "
                    "(split a night shift at midnight; use None for 24:00)"
                )
            checked.append((start, end))
        checked.sort(key=lambda interval: interval[0])
        for (_, earlier_end), (later_start, _) in zip(checked, checked[1:], strict=False):
            if earlier_end is None or earlier_end > later_start:
                raise ValueError(f"opening intervals overlap on weekday {weekday}")
        if checked:
            normalised[weekday] = tuple(checked)
    return dict(sorted(normalised.items()))


def parse_clock_time(text: str, *, is_end: bool = False) -> time | None:
    """Parse "HH:MM" or "HH:MM:SS"; as an interval end, "24:00" (or "00:00") means None."""
    match = _CLOCK_TEXT.match(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"expected a time like '09:00', got {text!r}")
    hour, minute, second = (int(part) if part else 0 for part in match.groups())
    if is_end and (hour, minute, second) in ((24, 0, 0), (0, 0, 0)):
        return None
    if hour > 23 or minute > 59 or second > 59:
        raise ValueError(f"{text!r} is not a valid time of day")
    return time(hour, minute, second)


def calendar_from_spec(
    spec: Mapping[str, Any], holiday_dates: Iterable[date] = ()
) -> BusinessCalendar:
    """Build a calendar from the policy file's "calendar" object.

    Reads ``timezone``, ``hours`` (``{"mon": [["09:00", "17:00"]], ...}``; a missing weekday is
    closed), ``"24/7"`` and the explicit ``holidays.dates``. Country holidays need the
    `holidays` package, so the services layer expands them and passes them as `holiday_dates`.

    Raises:
        ValueError: for anything malformed, with a message naming the culprit.
    """
    if not isinstance(spec, Mapping):
        raise ValueError("the calendar must be a JSON object")
    always_open = spec.get("24/7", False)
    if not isinstance(always_open, bool):
        raise ValueError('"24/7" must be true or false')
    timezone = spec.get("timezone", "UTC" if always_open else None)
    if not isinstance(timezone, str) or not timezone:
        raise ValueError("the calendar needs a timezone (an IANA name such as Europe/Amsterdam)")
    raw_hours = spec.get("hours") or {}
    if always_open and raw_hours:
        raise ValueError('give either "24/7": true or "hours", not both')
    if not isinstance(raw_hours, Mapping):
        raise ValueError('"hours" must map weekday names to lists of [start, end] pairs')
    hours: dict[int, list[Interval]] = {}
    for name, intervals in raw_hours.items():
        weekday = WEEKDAY_NAMES.get(str(name).strip().lower())
        if weekday is None:
            raise ValueError(f"unknown weekday {name!r} (use mon, tue, ... sun)")
        if weekday in hours:
            raise ValueError(f"weekday {name!r} is given twice")
        if not isinstance(intervals, list):
            raise ValueError(f"hours for {name!r} must be a list of [start, end] pairs")
        hours[weekday] = [_parse_interval(name, interval) for interval in intervals]
    dates = set(holiday_dates)
    dates.update(_explicit_holiday_dates(spec.get("holidays")))
    return BusinessCalendar(
        timezone=timezone,
        hours={weekday: tuple(intervals) for weekday, intervals in hours.items()},
        holidays=frozenset(dates),
        always_open=always_open,
    )


def _parse_interval(day_name: object, interval: object) -> Interval:
    if not isinstance(interval, list | tuple) or len(interval) != 2:
        raise ValueError(f"hours for {day_name!r}: expected [start, end], got {interval!r}")
    start = parse_clock_time(interval[0])
    assert start is not None  # a start is never parsed as "end of day"
    return start, parse_clock_time(interval[1], is_end=True)


def _explicit_holiday_dates(holidays: object) -> set[date]:
    """Return the "dates" of a holidays object; a bare list of dates is accepted too."""
    if holidays is None:
        return set()
    if isinstance(holidays, Mapping):
        raw_dates = holidays.get("dates") or []
    elif isinstance(holidays, list):
        raw_dates = holidays
    else:
        raise ValueError('"holidays" must be an object with "country" and/or "dates"')
    if not isinstance(raw_dates, list):
        raise ValueError('"holidays.dates" must be a list of ISO dates')
    parsed: set[date] = set()
    for raw in raw_dates:
        try:
            parsed.add(date.fromisoformat(raw))
        except (TypeError, ValueError) as error:
            raise ValueError(f"holiday {raw!r} is not an ISO date (YYYY-MM-DD)") from error
    return parsed
