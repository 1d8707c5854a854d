"""Business calendars from policy settings, with country holidays expanded by `holidays`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any

import holidays as holiday_tables

from ticketing.domain.calendar import BusinessCalendar, calendar_from_spec

#: Years of holidays loaded past the last year asked for, so that a deadline computed late in
#: December (or a long resolution target) still skips next year's holidays.
YEARS_AHEAD = 1


def country_holiday_dates(
    country: str, years: Iterable[int], subdivision: str | None = None
) -> frozenset[date]:
    """Return the public holidays of `country` (ISO 3166 code) in `years`, observed days included.

    Raises:
        ValueError: when the `holidays` package does not know the country or subdivision.
    """
    try:
        table = holiday_tables.country_holidays(
            country.upper(), subdiv=subdivision, years=sorted(set(years))
        )
    except NotImplementedError as error:
        where = country if subdivision is None else f"{country}/{subdivision}"
        raise ValueError(f"no holiday table for {where!r}") from error
    return frozenset(table.keys())


def calendar_years(*instants: datetime, ahead: int = YEARS_AHEAD) -> range:
    """Return the years whose holidays a computation over `instants` may need."""
    if not instants:
        raise ValueError("need at least one instant to choose holiday years")
    years = [instant.year for instant in instants]
    return range(min(years), max(years) + ahead + 1)


def build_calendar(spec: Mapping[str, Any], years: Iterable[int]) -> BusinessCalendar:
    """Build the calendar of a policy's "calendar" object, expanding its country holidays.

    Only `years` are expanded: the domain calendar works on a fixed set of dates, so callers
    pick a range covering every instant they compute with (see `calendar_years`).

    Raises:
        ValueError: for a malformed calendar or an unknown country.
    """
    if not isinstance(spec, Mapping):
        raise ValueError("the calendar must be a JSON object")
    holidays_spec = spec.get("holidays")
    country_dates: frozenset[date] = frozenset()
    if isinstance(holidays_spec, Mapping) and holidays_spec.get("country"):
        country = holidays_spec["country"]
        subdivision = holidays_spec.get("subdivision") or holidays_spec.get("subdiv")
        if not isinstance(country, str) or (
            subdivision is not None and not isinstance(subdivision, str)
        ):
            raise ValueError('"holidays.country" and "holidays.subdivision" must be strings')
        country_dates = country_holiday_dates(country, years, subdivision)
    return calendar_from_spec(spec, holiday_dates=country_dates)
