"""Supervisor figures: SLA hit rates, response times, backlog, repeat contacts and escalations."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from ticketing.extensions import db
from ticketing.models import (
    OPEN_STATUSES,
    BreachReview,
    Customer,
    Direction,
    EscalationFiring,
    EscalationRule,
    Message,
    Priority,
    SlaClock,
    Tag,
    Ticket,
    TicketEvent,
    TicketStatus,
    User,
    ticket_tags,
)
from ticketing.models.ticket import REFERENCE_PREFIX

#: the clocks of DESIGN.md, in the order pages show them
METRICS = ("first_response", "next_response", "resolution")
#: the response-time percentiles the dashboard shows
PERCENTILES = (0.5, 0.9)
#: percentiles are rounded to a millisecond of business time, so both databases agree exactly
PERCENTILE_DIGITS = 3
#: open-ticket age buckets: (key, lower bound in days inclusive, upper bound in days exclusive)
BACKLOG_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("lt_1d", 0, 1),
    ("1_3d", 1, 3),
    ("3_7d", 3, 7),
    ("gt_7d", 7, None),
)
#: the longest daily trend drawn; a longer period shows its last days only
MAX_DAYS = 92
#: the weekly trend shows at least this many weeks and at most MAX_WEEKS
MIN_WEEKS = 8
MAX_WEEKS = 53
#: the cue-word aggregation reads at most this many messages (newest first)
MAX_CUE_MESSAGES = 20_000
#: how many ticket links a ranked row carries
LINKS_PER_ROW = 5
#: reply and forward prefixes dropped before subjects are compared as topics
_SUBJECT_PREFIX = re.compile(r"^\s*((re|fw|fwd|aw|wg|antw|doorst)\s*(\[\d+\])?\s*:\s*)+", re.I)
_CLOSED = (TicketStatus.solved, TicketStatus.closed)
_PRIORITIES = frozenset(priority.value for priority in Priority)


class ReportError(ValueError):
    """A report request that cannot be answered; the message is safe to show."""


@dataclass(frozen=True)
class ReportFilter:
    """Which period and slice of the work a report covers.

    The period is [start, end) in UTC. Ticket figures filter on the ticket's channel, team,
    assignee, priority and policy; clock figures take priority and policy from the clock itself
    (the priority it was measured against, after any re-targeting).
    """

    start: datetime
    end: datetime
    channel: str | None = None
    team_id: int | None = None
    assignee_id: int | None = None
    priority: str | None = None
    policy_id: int | None = None

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            value = getattr(self, name)
            if value.tzinfo is None or value.utcoffset() is None:
                raise ReportError(f"the period {name} must be a timezone-aware instant")
        if self.end <= self.start:
            raise ReportError("the period must end after it starts")
        if self.priority is not None and self.priority not in _PRIORITIES:
            raise ReportError(f"unknown priority {self.priority!r}")


def period_for_dates(first_day: date, last_day: date, timezone: str) -> tuple[datetime, datetime]:
    """Return the UTC instants of local midnight at `first_day` and the day after `last_day`."""
    if last_day < first_day:
        raise ReportError("the period must end after it starts")
    zone = ZoneInfo(timezone)
    start = datetime.combine(first_day, time(0), zone).astimezone(ZoneInfo("UTC"))
    end = datetime.combine(last_day + timedelta(days=1), time(0), zone).astimezone(ZoneInfo("UTC"))
    return start, end


def default_period(now: datetime, timezone: str, days: int = 7) -> tuple[date, date]:
    """The last `days` local days, today included."""
    today = now.astimezone(ZoneInfo(timezone)).date()
    return today - timedelta(days=days - 1), today


# --- result types -----------------------------------------------------------------------------


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@dataclass(frozen=True)
class HitRate:
    """Clocks of one metric that stopped in the period: met or breached (excused counted apart)."""

    metric: str
    met: int
    breached: int
    #: breached clocks a supervisor excused; still breached, never deleted
    excused: int

    @property
    def stopped(self) -> int:
        return self.met + self.breached

    @property
    def rate(self) -> float | None:
        """Share met: met / (met + breached)."""
        return _ratio(self.met, self.met + self.breached)

    @property
    def adjusted_rate(self) -> float | None:
        """Share met without excused breaches: met / (met + breached - excused)."""
        return _ratio(self.met, self.met + self.breached - self.excused)


@dataclass(frozen=True)
class BreachCount:
    """Clocks of one metric whose deadline passed in the period, by review outcome."""

    metric: str
    total: int
    #: still running past their deadline now
    running: int
    unreviewed: int
    acknowledged: int
    annotated: int
    excused: int


@dataclass(frozen=True)
class ResponseTime:
    """Business time used by the clocks of one metric that stopped in the period."""

    metric: str
    count: int
    #: business seconds, linear interpolation between closest ranks; None without clocks
    median: float | None
    p90: float | None


@dataclass(frozen=True)
class BacklogBucket:
    key: str
    count: int


@dataclass(frozen=True)
class AtRisk:
    """Running clocks of one metric right now: past their warning point, or past their deadline."""

    metric: str
    at_risk: int
    overdue: int


@dataclass(frozen=True)
class RepeatSummary:
    """Tickets opened in the period and how often their customers had to come back."""

    tickets: int
    repeat_tickets: int
    contacts: int
    repeat_contacts: int
    again_mentions: int

    @property
    def repeat_rate(self) -> float | None:
        """Share of tickets with at least one repeat contact."""
        return _ratio(self.repeat_tickets, self.tickets)

    @property
    def repeats_per_100_contacts(self) -> float | None:
        return None if not self.contacts else 100 * self.repeat_contacts / self.contacts


@dataclass(frozen=True)
class FirstContactResolution:
    """Tickets solved in the period; those solved after one contact and never reopened."""

    solved: int
    first_contact: int

    @property
    def rate(self) -> float | None:
        return _ratio(self.first_contact, self.solved)


@dataclass(frozen=True)
class EscalationCount:
    rule_id: int
    rule_name: str
    firings: int
    tickets: int


@dataclass(frozen=True)
class TrendBucket:
    """One day or week of a trend: clocks stopped, breaches and tickets opened in it."""

    label: str
    start: datetime
    end: datetime
    met: dict[str, int]
    breached: dict[str, int]
    breaches: int
    opened: int

    def hit_rate(self, metric: str) -> float | None:
        met, breached = self.met.get(metric, 0), self.breached.get(metric, 0)
        return _ratio(met, met + breached)


@dataclass(frozen=True)
class Trend:
    granularity: str  # "day" or "week"
    buckets: list[TrendBucket]
    #: the period had more days than MAX_DAYS; only the last ones are shown
    truncated: bool = False


@dataclass(frozen=True)
class Dashboard:
    filter: ReportFilter
    now: datetime
    hit_rates: list[HitRate]
    breaches: list[BreachCount]
    response_times: list[ResponseTime]
    backlog: list[BacklogBucket]
    at_risk: list[AtRisk]
    repeats: RepeatSummary
    first_contact: FirstContactResolution
    escalations: list[EscalationCount]
    daily: Trend
    weekly: Trend


# --- filters ----------------------------------------------------------------------------------


def _owner_conditions(report: ReportFilter) -> list[Any]:
    conditions: list[Any] = []
    if report.channel:
        conditions.append(Ticket.channel == report.channel)
    if report.team_id is not None:
        conditions.append(Ticket.team_id == report.team_id)
    if report.assignee_id is not None:
        conditions.append(Ticket.assignee_id == report.assignee_id)
    return conditions


def _ticket_conditions(report: ReportFilter) -> list[Any]:
    conditions = _owner_conditions(report)
    if report.priority:
        conditions.append(Ticket.priority == Priority(report.priority))
    if report.policy_id is not None:
        conditions.append(Ticket.policy_id == report.policy_id)
    return conditions


def _scope_clocks(statement: sa.Select[Any], report: ReportFilter, *, joined: bool = False
                  ) -> sa.Select[Any]:
    """Apply the filter to a statement over sla_clocks (joining tickets only when needed)."""
    if report.priority:
        statement = statement.where(SlaClock.priority == report.priority)
    if report.policy_id is not None:
        statement = statement.where(SlaClock.policy_id == report.policy_id)
    owner = _owner_conditions(report)
    if owner:
        if not joined:
            statement = statement.join(Ticket, Ticket.id == SlaClock.ticket_id)
        statement = statement.where(*owner)
    return statement


def _in_period(column: Any, start: datetime, end: datetime) -> Any:
    return sa.and_(column >= start, column < end)


def _count_if(condition: Any) -> Any:
    return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)


# --- dashboard figures ------------------------------------------------------------------------


def build_dashboard(report: ReportFilter, *, now: datetime, timezone: str) -> Dashboard:
    """Compute every dashboard figure for the filter, as of `now`."""
    daily, weekly = trends(report, timezone=timezone)
    return Dashboard(
        filter=report,
        now=now,
        hit_rates=hit_rates(report),
        breaches=breach_counts(report),
        response_times=response_times(report),
        backlog=backlog_by_age(report, now=now),
        at_risk=at_risk_now(report, now=now),
        repeats=repeat_summary(report),
        first_contact=first_contact_resolution(report),
        escalations=escalation_counts(report),
        daily=daily,
        weekly=weekly,
    )


def hit_rates(report: ReportFilter) -> list[HitRate]:
    """Met and breached clocks per metric among those that stopped in the period."""
    statement = (
        sa.select(
            SlaClock.metric,
            _count_if(SlaClock.state == "met"),
            _count_if(SlaClock.state == "breached"),
            _count_if(sa.and_(SlaClock.state == "breached", BreachReview.decision == "excused")),
        )
        .outerjoin(BreachReview, BreachReview.clock_id == SlaClock.id)
        .where(_in_period(SlaClock.stopped_at, report.start, report.end))
        .group_by(SlaClock.metric)
    )
    rows = {row[0]: row for row in db.session.execute(_scope_clocks(statement, report))}
    return [
        HitRate(metric, int(row[1]), int(row[2]), int(row[3])) if row else HitRate(metric, 0, 0, 0)
        for metric in METRICS
        for row in [rows.get(metric)]
    ]


def breach_counts(report: ReportFilter) -> list[BreachCount]:
    """Clocks per metric whose deadline passed in the period, by their review outcome."""
    decision = BreachReview.decision
    statement = (
        sa.select(
            SlaClock.metric,
            sa.func.count(),
            _count_if(SlaClock.is_running),
            _count_if(BreachReview.id.is_(None)),
            _count_if(decision == "acknowledged"),
            _count_if(decision == "annotated"),
            _count_if(decision == "excused"),
        )
        .outerjoin(BreachReview, BreachReview.clock_id == SlaClock.id)
        .where(
            _in_period(SlaClock.breached_at, report.start, report.end),
            SlaClock.state == "breached",
        )
        .group_by(SlaClock.metric)
    )
    rows = {row[0]: row for row in db.session.execute(_scope_clocks(statement, report))}
    counts = []
    for metric in METRICS:
        row = rows.get(metric)
        values = [int(value) for value in row[1:]] if row else [0] * 6
        counts.append(BreachCount(metric, *values))
    return counts


def response_times(report: ReportFilter) -> list[ResponseTime]:
    """Median and 90th percentile of business time per metric, over clocks stopped in the period.

    The percentile is PostgreSQL's `percentile_cont`: sort the n values, take position
    p x (n - 1) counted from 0, and interpolate linearly between the two values around it.
    PostgreSQL computes it in SQL; other databases fetch those two values with ORDER BY ...
    LIMIT 2 OFFSET floor(position) and interpolate the same way (see `percentiles_by_offset`).
    """
    if db.session.get_bind().dialect.name == "postgresql":
        return _percentiles_in_sql(report)
    return percentiles_by_offset(report)


def _stopped_clocks(report: ReportFilter, *columns: Any) -> sa.Select[Any]:
    statement = sa.select(*columns).where(
        _in_period(SlaClock.stopped_at, report.start, report.end)
    )
    return _scope_clocks(statement, report)


def _percentiles_in_sql(report: ReportFilter) -> list[ResponseTime]:
    ordered = SlaClock.elapsed_seconds
    statement = _stopped_clocks(
        report,
        SlaClock.metric,
        sa.func.count(),
        *(sa.func.percentile_cont(p).within_group(ordered) for p in PERCENTILES),
    ).group_by(SlaClock.metric)
    rows = {row[0]: row for row in db.session.execute(statement)}
    times = []
    for metric in METRICS:
        row = rows.get(metric)
        if row is None:
            times.append(ResponseTime(metric, 0, None, None))
            continue
        median, p90 = (round(float(value), PERCENTILE_DIGITS) for value in row[2:])
        times.append(ResponseTime(metric, int(row[1]), median, p90))
    return times


def percentiles_by_offset(report: ReportFilter) -> list[ResponseTime]:
    """The same percentiles with portable SQL: a count, then two ordered values per percentile."""
    counts = dict(
        db.session.execute(
            _stopped_clocks(report, SlaClock.metric, sa.func.count()).group_by(SlaClock.metric)
        ).all()
    )
    times = []
    for metric in METRICS:
        count = int(counts.get(metric, 0))
        if not count:
            times.append(ResponseTime(metric, 0, None, None))
            continue
        median, p90 = (_percentile_by_offset(report, metric, count, p) for p in PERCENTILES)
        times.append(ResponseTime(metric, count, median, p90))
    return times


def _percentile_by_offset(report: ReportFilter, metric: str, count: int, fraction: float) -> float:
    position = fraction * (count - 1)
    lower = math.floor(position)
    weight = position - lower
    statement = (
        _stopped_clocks(report, SlaClock.elapsed_seconds)
        .where(SlaClock.metric == metric)
        .order_by(SlaClock.elapsed_seconds)
        .offset(lower)
        .limit(2 if weight else 1)
    )
    values = [float(value) for value in db.session.scalars(statement)]
    value = values[0]
    if weight and len(values) == 2:
        value = values[0] + (values[1] - values[0]) * weight
    return round(value, PERCENTILE_DIGITS)


def backlog_by_age(report: ReportFilter, *, now: datetime) -> list[BacklogBucket]:
    """Open tickets right now by how long ago they opened (the period does not apply)."""
    columns = []
    for _key, low, high in BACKLOG_BUCKETS:
        condition = Ticket.opened_at <= now - timedelta(days=low)
        if high is not None:
            condition = sa.and_(condition, Ticket.opened_at > now - timedelta(days=high))
        columns.append(_count_if(condition))
    statement = sa.select(*columns).where(
        Ticket.status.in_(OPEN_STATUSES), *_ticket_conditions(report)
    )
    row = db.session.execute(statement).one()
    return [
        BacklogBucket(key, int(value))
        for (key, _low, _high), value in zip(BACKLOG_BUCKETS, row, strict=True)
    ]


def at_risk_now(report: ReportFilter, *, now: datetime) -> list[AtRisk]:
    """Running clocks past their warning instant (at risk) or their deadline (overdue), now.

    Read from the deadlines rather than the stored state, which lags until the next sweep; the
    sweep uses the same conditions.
    """
    statement = (
        sa.select(
            SlaClock.metric,
            _count_if(SlaClock.due_at > now),
            _count_if(SlaClock.due_at <= now),
        )
        .where(SlaClock.is_running, SlaClock.warn_at <= now)
        .group_by(SlaClock.metric)
    )
    rows = {row[0]: row for row in db.session.execute(_scope_clocks(statement, report))}
    return [
        AtRisk(metric, int(row[1]), int(row[2])) if row else AtRisk(metric, 0, 0)
        for metric in METRICS
        for row in [rows.get(metric)]
    ]


def _opened_in_period(report: ReportFilter) -> list[Any]:
    return [_in_period(Ticket.opened_at, report.start, report.end), *_ticket_conditions(report)]


def repeat_summary(report: ReportFilter) -> RepeatSummary:
    """Repeat-contact figures over the tickets opened in the period (their counters as of now)."""
    statement = sa.select(
        sa.func.count(),
        _count_if(Ticket.repeat_contacts > 0),
        sa.func.coalesce(sa.func.sum(Ticket.contact_count), 0),
        sa.func.coalesce(sa.func.sum(Ticket.repeat_contacts), 0),
        sa.func.coalesce(sa.func.sum(Ticket.again_mentions), 0),
    ).where(*_opened_in_period(report))
    return RepeatSummary(*(int(value) for value in db.session.execute(statement).one()))


def first_contact_resolution(report: ReportFilter) -> FirstContactResolution:
    """Tickets solved in the period, and those among them with one contact and no reopening."""
    reopened = (
        sa.select(TicketEvent.id)
        .where(TicketEvent.ticket_id == Ticket.id, TicketEvent.type == "ticket.reopened")
        .exists()
    )
    statement = sa.select(
        sa.func.count(),
        _count_if(sa.and_(Ticket.contact_count == 1, ~reopened)),
    ).where(
        _in_period(Ticket.solved_at, report.start, report.end),
        Ticket.status.in_(_CLOSED),
        *_ticket_conditions(report),
    )
    solved, first = db.session.execute(statement).one()
    return FirstContactResolution(int(solved), int(first))


def escalation_counts(report: ReportFilter) -> list[EscalationCount]:
    """Escalation rules that fired in the period, most often first."""
    firings = sa.func.count(EscalationFiring.id)
    statement = (
        sa.select(
            EscalationRule.id,
            EscalationRule.name,
            firings,
            sa.func.count(sa.distinct(EscalationFiring.ticket_id)),
        )
        .join(EscalationRule, EscalationRule.id == EscalationFiring.rule_id)
        .where(_in_period(EscalationFiring.fired_at, report.start, report.end))
        .group_by(EscalationRule.id, EscalationRule.name)
        .order_by(firings.desc(), EscalationRule.name)
    )
    conditions = _ticket_conditions(report)
    if conditions:
        statement = statement.join(Ticket, Ticket.id == EscalationFiring.ticket_id).where(
            *conditions
        )
    return [
        EscalationCount(rule_id, name, int(count), int(tickets))
        for rule_id, name, count, tickets in db.session.execute(statement)
    ]


# --- trends -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Bucket:
    label: str
    start: datetime
    end: datetime


def trend_buckets(report: ReportFilter, *, granularity: str, timezone: str
                  ) -> tuple[list[_Bucket], bool]:
    """Local days of the period, or local weeks (Monday first) ending with the period's last.

    Boundaries are local midnights converted to UTC, so a DST day is 23 or 25 hours long. The
    flag says whether the period was longer than the trend shows (MAX_DAYS, MAX_WEEKS).
    """
    zone = ZoneInfo(timezone)
    first_day = report.start.astimezone(zone).date()
    last_day = (report.end - timedelta(microseconds=1)).astimezone(zone).date()
    truncated = False
    if granularity == "day":
        if (last_day - first_day).days + 1 > MAX_DAYS:
            first_day, truncated = last_day - timedelta(days=MAX_DAYS - 1), True
        days = [first_day + timedelta(days=n) for n in range((last_day - first_day).days + 1)]
        bounds = [(day.isoformat(), day, day + timedelta(days=1)) for day in days]
    elif granularity == "week":
        last_monday = last_day - timedelta(days=last_day.weekday())
        first_monday = first_day - timedelta(days=first_day.weekday())
        weeks = (last_monday - first_monday).days // 7 + 1
        truncated = weeks > MAX_WEEKS
        weeks = min(max(weeks, MIN_WEEKS), MAX_WEEKS)
        mondays = [last_monday - timedelta(weeks=n) for n in reversed(range(weeks))]
        bounds = [
            (f"{monday.isocalendar().year}-W{monday.isocalendar().week:02d}", monday,
             monday + timedelta(days=7))
            for monday in mondays
        ]
    else:
        raise ReportError(f"unknown granularity {granularity!r}")
    buckets = [
        _Bucket(label, _local_midnight(begin, zone), _local_midnight(finish, zone))
        for label, begin, finish in bounds
    ]
    return buckets, truncated


def _local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), zone).astimezone(ZoneInfo("UTC"))


def _bucket_of(column: Any, buckets: list[_Bucket]) -> Any:
    # Buckets are contiguous and ascending, so the first upper bound above the value wins. A
    # CASE over the UTC instants of local midnights is portable and DST-exact, and on
    # PostgreSQL cheaper per row than converting every instant with timezone().
    return sa.case(*((column < bucket.end, index) for index, bucket in enumerate(buckets)))


def trends(report: ReportFilter, *, timezone: str) -> tuple[Trend, Trend]:
    """The daily and the weekly trend of the dashboard."""
    return (
        trend(report, granularity="day", timezone=timezone),
        trend(report, granularity="week", timezone=timezone),
    )


def trend(report: ReportFilter, *, granularity: str, timezone: str) -> Trend:
    """Clocks stopped (met or breached per metric), breaches and tickets opened per bucket."""
    buckets, truncated = trend_buckets(report, granularity=granularity, timezone=timezone)
    first, last = buckets[0].start, buckets[-1].end
    met: list[dict[str, int]] = [{} for _ in buckets]
    breached: list[dict[str, int]] = [{} for _ in buckets]
    breaches = [0] * len(buckets)
    opened = [0] * len(buckets)

    # Each grouping runs over a subquery: GROUP BY then repeats no bound parameters, which
    # PostgreSQL would not recognise as the selected CASE expression.
    stopped = _scope_clocks(
        sa.select(
            _bucket_of(SlaClock.stopped_at, buckets).label("bucket"),
            SlaClock.metric.label("metric"),
            SlaClock.state.label("state"),
        ).where(_in_period(SlaClock.stopped_at, first, last)),
        report,
    ).subquery()
    statement = sa.select(stopped.c.bucket, stopped.c.metric, stopped.c.state, sa.func.count())
    statement = statement.group_by(stopped.c.bucket, stopped.c.metric, stopped.c.state)
    for bucket, metric, state, count in db.session.execute(statement):
        if state == "met":
            met[bucket][metric] = int(count)
        elif state == "breached":
            breached[bucket][metric] = int(count)

    passed = _scope_clocks(
        sa.select(_bucket_of(SlaClock.breached_at, buckets).label("bucket")).where(
            _in_period(SlaClock.breached_at, first, last), SlaClock.state == "breached"
        ),
        report,
    ).subquery()
    for bucket, count in db.session.execute(
        sa.select(passed.c.bucket, sa.func.count()).group_by(passed.c.bucket)
    ):
        breaches[bucket] = int(count)

    new = (
        sa.select(_bucket_of(Ticket.opened_at, buckets).label("bucket"))
        .where(_in_period(Ticket.opened_at, first, last), *_ticket_conditions(report))
        .subquery()
    )
    for bucket, count in db.session.execute(
        sa.select(new.c.bucket, sa.func.count()).group_by(new.c.bucket)
    ):
        opened[bucket] = int(count)

    return Trend(
        granularity,
        [
            TrendBucket(b.label, b.start, b.end, met[i], breached[i], breaches[i], opened[i])
            for i, b in enumerate(buckets)
        ],
        truncated,
    )


# --- breach list ------------------------------------------------------------------------------

#: review filters of the breach list
REVIEW_FILTERS = ("all", "unreviewed", "acknowledged", "annotated", "excused")


@dataclass(frozen=True)
class BreachCursor:
    """Keyset position in the breach list: newest breach first, then the highest clock id."""

    breached_at: datetime
    clock_id: int

    def token(self) -> str:
        return f"{self.breached_at.astimezone(ZoneInfo('UTC')):%Y%m%dT%H%M%S.%fZ}_{self.clock_id}"

    @classmethod
    def parse(cls, token: str | None) -> BreachCursor | None:
        """Read a token made by `token()`; anything else is ignored (first page)."""
        if not token:
            return None
        instant, _, clock_id = token.partition("_")
        try:
            at = datetime.strptime(instant, "%Y%m%dT%H%M%S.%fZ").replace(tzinfo=ZoneInfo("UTC"))
            return cls(at, int(clock_id))
        except ValueError:
            return None


@dataclass
class BreachPage:
    rows: list[tuple[SlaClock, Ticket, BreachReview | None]]
    next_cursor: BreachCursor | None


def _breach_statement(report: ReportFilter, review: str) -> sa.Select[Any]:
    statement = (
        sa.select(SlaClock, Ticket, BreachReview)
        .join(Ticket, Ticket.id == SlaClock.ticket_id)
        .outerjoin(BreachReview, BreachReview.clock_id == SlaClock.id)
        .where(
            _in_period(SlaClock.breached_at, report.start, report.end),
            SlaClock.state == "breached",
        )
    )
    statement = _scope_clocks(statement, report, joined=True)
    if review == "unreviewed":
        statement = statement.where(BreachReview.id.is_(None))
    elif review in ("acknowledged", "annotated", "excused"):
        statement = statement.where(BreachReview.decision == review)
    elif review != "all":
        raise ReportError(f"unknown review filter {review!r}")
    return statement.order_by(SlaClock.breached_at.desc(), SlaClock.id.desc())


def list_breaches(report: ReportFilter, *, review: str = "all",
                  after: BreachCursor | None = None, limit: int = 25) -> BreachPage:
    """One page of breached clocks in the period, newest first, with ticket and review."""
    statement = _breach_statement(report, review).options(
        selectinload(Ticket.customer).selectinload(Customer.identities),
        selectinload(BreachReview.reviewer),
    )
    if after is not None:
        statement = statement.where(
            sa.or_(
                SlaClock.breached_at < after.breached_at,
                sa.and_(SlaClock.breached_at == after.breached_at, SlaClock.id < after.clock_id),
            )
        )
    rows = [tuple(row) for row in db.session.execute(statement.limit(limit + 1))]
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1][0]
        next_cursor = BreachCursor(last.breached_at, last.id)
    return BreachPage(rows, next_cursor)  # type: ignore[arg-type]


def iter_breaches(report: ReportFilter, *, review: str = "all", batch: int = 500
                  ) -> Iterator[dict[str, Any]]:
    """Every breached clock of the list as a flat row, streamed in batches (CSV export)."""
    statement = (
        _breach_statement(report, review)
        .with_only_columns(
            SlaClock.id, SlaClock.ticket_id, Ticket.subject, SlaClock.metric, SlaClock.cycle,
            SlaClock.priority, SlaClock.started_at, SlaClock.due_at, SlaClock.breached_at,
            SlaClock.stopped_at, SlaClock.elapsed_seconds, SlaClock.paused_seconds,
            SlaClock.target_seconds, SlaClock.is_running, SlaClock.segments,
            BreachReview.decision, BreachReview.reason, BreachReview.note,
            BreachReview.reviewed_at, User.name,
        )
        .outerjoin(User, User.id == BreachReview.reviewer_id)
    )
    result = db.session.execute(statement, execution_options={"yield_per": batch})
    for row in result:
        yield row._asdict()


# --- repeat contacts --------------------------------------------------------------------------


@dataclass(frozen=True)
class TicketLink:
    id: int
    subject: str
    repeat_contacts: int

    @property
    def reference(self) -> str:
        return f"{REFERENCE_PREFIX}{self.id}"


@dataclass
class RepeatCustomer:
    customer_id: int
    name: str
    tickets: int
    repeat_tickets: int
    contacts: int
    repeat_contacts: int
    again_mentions: int
    links: list[TicketLink] = field(default_factory=list)


@dataclass
class RepeatTopic:
    #: "category" (web form), "tag" or "subject"
    source: str
    topic: str
    tickets: int
    repeat_tickets: int
    repeat_contacts: int


@dataclass
class CueWord:
    match: str
    kind: str
    mentions: int
    tickets: int
    links: list[int] = field(default_factory=list)


@dataclass
class CueWords:
    words: list[CueWord]
    messages_read: int
    #: the bound was reached: older messages of the period were not read
    truncated: bool


@dataclass(frozen=True)
class RepeatChannel:
    channel: str
    repeat_contacts: int


@dataclass
class RepeatReport:
    summary: RepeatSummary
    customers: list[RepeatCustomer]
    topics: list[RepeatTopic]
    cues: CueWords
    channels: list[RepeatChannel]
    tickets: list[dict[str, Any]]


def build_repeat_report(report: ReportFilter, *, limit: int = 20) -> RepeatReport:
    """Everything on the repeat-contact page for tickets opened in the period."""
    return RepeatReport(
        summary=repeat_summary(report),
        customers=repeat_customers(report, limit=limit),
        topics=repeat_topics(report, limit=limit),
        cues=again_cue_words(report),
        channels=repeat_channels(report),
        tickets=list(iter_repeat_tickets(report, limit=limit * 2)),
    )


def _customer_statement(report: ReportFilter) -> sa.Select[Any]:
    repeats = sa.func.sum(Ticket.repeat_contacts)
    return (
        sa.select(
            Ticket.customer_id,
            sa.func.count(),
            _count_if(Ticket.repeat_contacts > 0),
            sa.func.sum(Ticket.contact_count),
            repeats,
            sa.func.sum(Ticket.again_mentions),
        )
        .where(*_opened_in_period(report))
        .group_by(Ticket.customer_id)
        .having(repeats > 0)
        .order_by(repeats.desc(), Ticket.customer_id)
    )


def repeat_customers(report: ReportFilter, *, limit: int | None = 20) -> list[RepeatCustomer]:
    """Customers whose tickets of the period had the most repeat contacts, with ticket links."""
    statement = _customer_statement(report)
    if limit is not None:
        statement = statement.limit(limit)
    customers = [
        RepeatCustomer(cid, "", *(int(value or 0) for value in values))
        for cid, *values in db.session.execute(statement)
    ]
    if not customers:
        return customers
    by_id = {customer.customer_id: customer for customer in customers}
    names = db.session.scalars(
        sa.select(Customer)
        .where(Customer.id.in_(by_id))
        .options(selectinload(Customer.identities))
    )
    for customer in names:
        by_id[customer.id].name = customer.display_name
    ranked = (
        sa.select(
            Ticket.customer_id,
            Ticket.id,
            Ticket.subject,
            Ticket.repeat_contacts,
            sa.func.row_number()
            .over(
                partition_by=Ticket.customer_id,
                order_by=(Ticket.repeat_contacts.desc(), Ticket.id.desc()),
            )
            .label("rank"),
        )
        .where(*_opened_in_period(report), Ticket.repeat_contacts > 0,
               Ticket.customer_id.in_(by_id))
        .subquery()
    )
    links = sa.select(ranked.c.customer_id, ranked.c.id, ranked.c.subject,
                      ranked.c.repeat_contacts).where(ranked.c.rank <= LINKS_PER_ROW)
    for customer_id, ticket_id, subject, repeats in db.session.execute(
        links.order_by(ranked.c.customer_id, ranked.c.rank)
    ):
        by_id[customer_id].links.append(TicketLink(ticket_id, subject, int(repeats)))
    return customers


def iter_repeat_customers(report: ReportFilter, *, batch: int = 500) -> Iterator[tuple[Any, ...]]:
    """Every customer row of the ranking, streamed (CSV export)."""
    statement = _customer_statement(report).add_columns(Customer.name).join(
        Customer, Customer.id == Ticket.customer_id
    ).group_by(Customer.name)
    for row in db.session.execute(statement, execution_options={"yield_per": batch}):
        yield tuple(row)


def normalise_subject(subject: str) -> str:
    """A subject as a topic: reply prefixes dropped, spaces collapsed, lower case."""
    return " ".join(_SUBJECT_PREFIX.sub("", subject or "").split()).lower()


def repeat_topics(report: ReportFilter, *, limit: int = 20) -> list[RepeatTopic]:
    """Web-form categories, tags and subjects of the period's tickets, by repeat contacts.

    A ticket counts once for each topic it has (its category, each tag, its subject).
    """
    scope = _opened_in_period(report)
    repeats = sa.func.sum(Ticket.repeat_contacts)
    measures = (
        sa.func.count(),
        _count_if(Ticket.repeat_contacts > 0),
        repeats,
    )
    category = Message.meta["category"].as_string()
    categories = (
        sa.select(Message.ticket_id.label("ticket_id"), category.label("topic"))
        .join(Ticket, Ticket.id == Message.ticket_id)
        .where(Message.direction == Direction.inbound, category.is_not(None), *scope)
        .distinct()
        .subquery()
    )
    topics: list[RepeatTopic] = []
    by_category = (
        sa.select(categories.c.topic, *measures)
        .join(Ticket, Ticket.id == categories.c.ticket_id)
        .group_by(categories.c.topic)
        .having(repeats > 0)
        .order_by(repeats.desc(), categories.c.topic)
        .limit(limit)
    )
    topics += [RepeatTopic("category", topic, *map(int, values))
               for topic, *values in db.session.execute(by_category)]
    by_tag = (
        sa.select(Tag.name, *measures)
        .select_from(Ticket)
        .join(ticket_tags, ticket_tags.c.ticket_id == Ticket.id)
        .join(Tag, Tag.id == ticket_tags.c.tag_id)
        .where(*scope)
        .group_by(Tag.name)
        .having(repeats > 0)
        .order_by(repeats.desc(), Tag.name)
        .limit(limit)
    )
    topics += [RepeatTopic("tag", name, *map(int, values))
               for name, *values in db.session.execute(by_tag)]
    topics += _subject_topics(scope, measures, repeats, limit)
    topics.sort(key=lambda topic: (-topic.repeat_contacts, topic.source, topic.topic))
    return topics[:limit]


def _subject_topics(scope: list[Any], measures: tuple[Any, ...], repeats: Any, limit: int
                    ) -> list[RepeatTopic]:
    # SQL groups by the lower-cased subject; reply prefixes ("Re:", "Antw:") are merged here,
    # over a bounded number of groups, because stripping them is not portable SQL.
    subject = sa.func.lower(sa.func.trim(Ticket.subject))
    statement = (
        sa.select(subject, *measures)
        .where(*scope, Ticket.subject != "")
        .group_by(subject)
        .having(repeats > 0)
        .order_by(repeats.desc(), subject)
        .limit(limit * 10)
    )
    merged: dict[str, list[int]] = {}
    for text, tickets, repeat_tickets, repeat_contacts in db.session.execute(statement):
        key = normalise_subject(text)
        if not key:
            continue
        totals = merged.setdefault(key, [0, 0, 0])
        totals[0] += int(tickets)
        totals[1] += int(repeat_tickets)
        totals[2] += int(repeat_contacts)
    return [RepeatTopic("subject", key, *totals) for key, totals in merged.items()]


def again_cue_words(report: ReportFilter, *, max_messages: int = MAX_CUE_MESSAGES) -> CueWords:
    """The again-cue words customers used in the period's tickets, most frequent first.

    JSON array aggregation differs per database, so the spans are counted here, over a bounded
    stream of the newest inbound messages of tickets that have any cue.
    """
    statement = (
        sa.select(Message.ticket_id, Message.again_cues)
        .join(Ticket, Ticket.id == Message.ticket_id)
        .where(
            *_opened_in_period(report),
            Ticket.again_mentions > 0,
            Message.direction == Direction.inbound,
            sa.cast(Message.again_cues, sa.Text) != "[]",
        )
        .order_by(Message.id.desc())
        .limit(max_messages + 1)
    )
    mentions: Counter[tuple[str, str]] = Counter()
    tickets: dict[tuple[str, str], set[int]] = {}
    read = 0
    truncated = False
    # The LIMIT bounds the stream; reading it to the end closes the server-side cursor.
    for ticket_id, cues in db.session.execute(statement, execution_options={"yield_per": 1000}):
        if read == max_messages:
            truncated = True
            continue
        read += 1
        for cue in cues or ():
            match = " ".join(str(cue.get("match", "")).split()).lower()
            if not match:
                continue
            key = (match, str(cue.get("kind") or ""))
            mentions[key] += 1
            tickets.setdefault(key, set()).add(ticket_id)
    words = [
        CueWord(match, kind, count, len(tickets[(match, kind)]),
                sorted(tickets[(match, kind)], reverse=True)[:LINKS_PER_ROW])
        for (match, kind), count in sorted(mentions.items(), key=lambda item: (-item[1], item[0]))
    ]
    return CueWords(words, read, truncated)


def repeat_channels(report: ReportFilter) -> list[RepeatChannel]:
    """Repeat contacts received in the period, by the channel the customer came back through.

    Counted from the "repeat.detected" events of the period (an indexed range), so a customer
    coming back about an older ticket counts too.
    """
    channel = TicketEvent.data["channel"].as_string()
    count = sa.func.count()
    statement = (
        sa.select(channel, count)
        .join(Ticket, Ticket.id == TicketEvent.ticket_id)
        .where(
            TicketEvent.type == "repeat.detected",
            _in_period(TicketEvent.at, report.start, report.end),
            *_ticket_conditions(report),
        )
        .group_by(channel)
        .order_by(count.desc(), channel)
    )
    return [
        RepeatChannel(name or "unknown", int(total))
        for name, total in db.session.execute(statement)
    ]


def iter_repeat_tickets(report: ReportFilter, *, limit: int | None = None, batch: int = 500
                        ) -> Iterator[dict[str, Any]]:
    """Tickets of the period with repeat contacts, most repeats first, streamed."""
    statement = (
        sa.select(
            Ticket.id, Ticket.subject, Ticket.channel, Ticket.status, Ticket.opened_at,
            Ticket.customer_id, Customer.name.label("customer_name"), Ticket.contact_count,
            Ticket.repeat_contacts, Ticket.again_mentions, Ticket.repeat_of_id,
        )
        .join(Customer, Customer.id == Ticket.customer_id)
        .where(*_opened_in_period(report), Ticket.repeat_contacts > 0)
        .order_by(Ticket.repeat_contacts.desc(), Ticket.id.desc())
    )
    if limit is not None:
        statement = statement.limit(limit)
    for row in db.session.execute(statement, execution_options={"yield_per": batch}):
        values = row._asdict()
        values["reference"] = f"{REFERENCE_PREFIX}{values['id']}"
        values["status"] = values["status"].value
        yield values
