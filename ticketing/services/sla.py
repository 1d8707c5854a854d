"""SLA service: pick policies, refresh stored clocks from events, sweep deadlines set-based."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from ticketing.domain.calendar import BusinessCalendar
from ticketing.domain.sla import (
    Clock,
    ClockState,
    Metric,
    SlaEvent,
    SlaReport,
    compute_sla,
    describe_clock,
    policy_from_spec,
)
from ticketing.extensions import db
from ticketing.models import (
    OPEN_STATUSES,
    Message,
    SlaClock,
    SlaPolicy,
    SweepState,
    Ticket,
    TicketEvent,
)
from ticketing.services.calendars import build_calendar, calendar_years

log = logging.getLogger(__name__)

#: Used when no policy matches: a plain office week in Amsterdam, generous targets.
FALLBACK_POLICY: dict[str, Any] = {
    "calendar": {
        "timezone": "Europe/Amsterdam",
        "hours": {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")},
    },
    "targets": {
        priority: {"first_response": 480, "next_response": 960, "resolution": 4800}
        for priority in ("low", "normal", "high", "urgent")
    },
    "pause_statuses": ["pending"],
    "warn_ratio": 0.75,
}

#: how TicketEvent types feed the SLA engine
_EVENT_MAP = {
    "reply.sent": "agent_reply",
    "note.added": "note",
    "acknowledgement.sent": "auto_reply",
}
_SLA_EVENT_TYPES = (
    "message.received",
    "status.changed",
    "priority.changed",
    *_EVENT_MAP,
)
_STATE_RANK = {"running": 1, "at_risk": 2, "breached": 3}


def policy_snapshot(policy: SlaPolicy | None) -> dict[str, Any]:
    if policy is None:
        return {**FALLBACK_POLICY, "policy_id": None, "name": "fallback"}
    return {
        "policy_id": policy.id,
        "name": policy.name,
        "calendar": policy.calendar,
        "targets": policy.targets,
        "pause_statuses": list(policy.pause_statuses or []),
        "warn_ratio": policy.warn_ratio,
    }


def active_policies() -> list[SlaPolicy]:
    """The active policies in the order they are tried."""
    return list(db.session.scalars(
        sa.select(SlaPolicy).where(SlaPolicy.is_active).order_by(SlaPolicy.position, SlaPolicy.id)
    ))


def select_policy(
    ticket: Ticket, policies: Sequence[SlaPolicy] | None = None
) -> SlaPolicy | None:
    """Return the first active policy, by position, whose conditions all match the ticket.

    `policies` is `active_policies()` when the caller already has it (a batch of tickets).
    """
    customer_tags: set[str] | None = None
    for policy in active_policies() if policies is None else policies:
        conditions = policy.conditions or {}
        if conditions.get("customer_tag") and customer_tags is None:
            # Only read the customer's tags when a policy asks about them.
            customer_tags = (
                {tag.name for tag in ticket.customer.tags} if ticket.customer else set()
            )
        if _policy_matches(conditions, ticket, customer_tags or set()):
            return policy
    return None


def _policy_matches(conditions: dict[str, Any], ticket: Ticket, customer_tags: set[str]) -> bool:
    def allows(key: str, value: Any) -> bool:
        wanted = conditions.get(key) or []
        return not wanted or value in wanted

    if not allows("channel", ticket.channel):
        return False
    if not allows("priority", ticket.priority.value):
        return False
    if not allows("team_id", ticket.team_id):
        return False
    wanted_tags = set(conditions.get("customer_tag") or [])
    return not wanted_tags or bool(wanted_tags & customer_tags)


@lru_cache(maxsize=64)
def _cached_calendar(spec_json: str, first_year: int, last_year: int) -> BusinessCalendar:
    # Expanding country holidays costs milliseconds; a worker reuses calendars across tickets.
    return build_calendar(json.loads(spec_json), range(first_year, last_year + 1))


def calendar_for(spec: dict[str, Any], *instants: datetime) -> BusinessCalendar:
    years = calendar_years(*instants)
    return _cached_calendar(json.dumps(spec, sort_keys=True), years.start, years.stop - 1)


def sla_events(ticket: Ticket) -> tuple[list[SlaEvent], str]:
    """The ticket's SLA-relevant events and the priority it opened with."""
    return _as_sla_events(ticket, _event_rows([ticket.id]).get(ticket.id, []))


def _event_rows(ticket_ids: Sequence[int]) -> dict[int, list[Any]]:
    """The SLA-relevant event rows of each ticket, in order: one query for all of them."""
    rows = db.session.execute(
        sa.select(TicketEvent.ticket_id, TicketEvent.at, TicketEvent.type, TicketEvent.data)
        .outerjoin(Message, Message.id == TicketEvent.message_id)
        .where(
            TicketEvent.ticket_id.in_(ticket_ids),
            TicketEvent.type.in_(_SLA_EVENT_TYPES),
            # A message split off to another ticket no longer counts here, though its event
            # stays.
            sa.or_(TicketEvent.message_id.is_(None), Message.ticket_id == TicketEvent.ticket_id),
        )
        .order_by(TicketEvent.ticket_id, TicketEvent.at, TicketEvent.id)
    ).all()
    by_ticket: dict[int, list[Any]] = {}
    for row in rows:
        by_ticket.setdefault(row.ticket_id, []).append(row)
    return by_ticket


def _as_sla_events(ticket: Ticket, rows: Sequence[Any]) -> tuple[list[SlaEvent], str]:
    events: list[SlaEvent] = []
    opening_priority: str | None = None
    for _ticket_id, at, type_, data in rows:
        data = data or {}
        if type_ == "message.received":
            if data.get("kind", "message") == "message":
                events.append(SlaEvent(at, "customer_message"))
        elif type_ == "status.changed":
            events.append(SlaEvent(at, "status", status=data["new"]))
        elif type_ == "priority.changed":
            if opening_priority is None:
                opening_priority = data.get("old")
            events.append(SlaEvent(at, "priority", priority=data["new"]))
        else:
            events.append(SlaEvent(at, _EVENT_MAP[type_]))
    return events, opening_priority or ticket.priority.value


def compute_ticket_report(
    ticket: Ticket, *, now: datetime, policies: Sequence[SlaPolicy] | None = None,
    event_rows: Sequence[Any] | None = None,
) -> tuple[SlaReport, dict[str, Any]]:
    """Replay the ticket's events under its policy snapshot."""
    if ticket.sla_policy_snapshot is None:
        policy = select_policy(ticket, policies)
        ticket.policy_id = policy.id if policy is not None else None
        ticket.sla_policy_snapshot = policy_snapshot(policy)
    snapshot = ticket.sla_policy_snapshot
    if event_rows is None:
        events, opening_priority = sla_events(ticket)
    else:
        events, opening_priority = _as_sla_events(ticket, event_rows)
    calendar = calendar_for(snapshot["calendar"], ticket.opened_at, now)
    report = compute_sla(
        events, policy_from_spec(snapshot), calendar, now, initial_priority=opening_priority
    )
    return report, snapshot


def refresh_ticket_sla(
    ticket: Ticket, *, now: datetime, policies: Sequence[SlaPolicy] | None = None
) -> SlaReport:
    """Recompute the ticket's clocks and store them with the denormalised due columns."""
    return refresh_tickets_sla([ticket], now=now, policies=policies)[0]


def refresh_tickets_sla(
    tickets: Sequence[Ticket], *, now: datetime | Sequence[datetime],
    policies: Sequence[SlaPolicy] | None = None, bulk: bool = False,
) -> list[SlaReport]:
    """`refresh_ticket_sla` for several tickets, reading their events and clocks in one go.

    `now` is one instant, or one per ticket (a batch brings each up to date as of its last
    change). With `bulk` (a batch of inbound mail, where nothing in the session holds a clock)
    the clock rows are read and written with one Core statement each rather than as ORM
    objects: for a batch's thousands of clocks that unit of work was most of this function.
    """
    instants = [now] * len(tickets) if isinstance(now, datetime) else list(now)
    db.session.flush()  # the events just recorded must be in what is read back
    ids = [ticket.id for ticket in tickets]
    rows = _event_rows(ids)
    clocks: dict[int, dict[tuple[str, int], Any]] = {}
    query = (
        sa.select(*_CLOCK_KEY_COLUMNS) if bulk else sa.select(SlaClock)
    ).where(SlaClock.ticket_id.in_(ids))
    for clock in (db.session.execute(query) if bulk else db.session.scalars(query)):
        clocks.setdefault(clock.ticket_id, {})[(clock.metric, clock.cycle)] = clock
    writes = _ClockWrites() if bulk else None
    reports = [
        _store_report(ticket, at, policies, rows.get(ticket.id, []), clocks.get(ticket.id, {}),
                      writes)
        for ticket, at in zip(tickets, instants, strict=True)
    ]
    if writes is not None:
        writes.execute()
    db.session.flush()
    return reports


#: what the bulk path reads of a stored clock: enough to match it and to decide about a stale one
_CLOCK_KEY_COLUMNS = (SlaClock.id, SlaClock.ticket_id, SlaClock.metric, SlaClock.cycle,
                      SlaClock.state)


class _ClockWrites:
    """Clock rows to insert and to update, written with one statement each."""

    def __init__(self) -> None:
        self.inserts: list[dict[str, Any]] = []
        self.updates: list[dict[str, Any]] = []

    def execute(self) -> None:
        table = SlaClock.__table__
        if self.inserts:
            db.session.execute(sa.insert(table), self.inserts)
        if self.updates:
            columns = [name for name in self.updates[0] if name != "id"]
            db.session.execute(
                sa.update(table)
                .where(table.c.id == sa.bindparam("clock_id"))
                .values({name: sa.bindparam(f"new_{name}") for name in columns}),
                [{"clock_id": row["id"], **{f"new_{name}": row[name] for name in columns}}
                 for row in self.updates],
            )


def _store_report(
    ticket: Ticket, now: datetime, policies: Sequence[SlaPolicy] | None,
    event_rows: Sequence[Any], existing: dict[tuple[str, int], Any],
    writes: _ClockWrites | None = None,
) -> SlaReport:
    report, snapshot = compute_ticket_report(
        ticket, now=now, policies=policies, event_rows=event_rows
    )
    calendar = calendar_for(snapshot["calendar"], ticket.opened_at, now)
    worst = None
    warnings = []
    for clock in report.clocks:
        row = existing.pop((clock.metric.value, clock.cycle), None)
        values = _clock_values(clock, snapshot, calendar, now)
        if writes is not None:
            if row is None:
                writes.inserts.append({"ticket_id": ticket.id, "metric": clock.metric.value,
                                       "cycle": clock.cycle, **values})
            else:
                writes.updates.append({"id": row.id, **values})
        else:
            if row is None:
                row = SlaClock(ticket_id=ticket.id, metric=clock.metric.value, cycle=clock.cycle)
                db.session.add(row)
            for name, value in values.items():
                setattr(row, name, value)
        if values["is_running"] and values["warn_at"] is not None:
            warnings.append(values["warn_at"])
        if values["is_running"] and (
            _STATE_RANK.get(clock.state.value, 0) > _STATE_RANK.get(worst, 0)
        ):
            worst = clock.state.value
        if clock.state == ClockState.breached:
            ticket.has_breached = True
            record_once(
                ticket.id, "sla.breached", clock.breached_at or now,
                key=f"{clock.metric.value}:{clock.cycle}",
                data={"metric": clock.metric.value, "cycle": clock.cycle},
            )
    for stale in existing.values():
        if writes is not None:
            # Rare (a re-computation dropped a cycle): decided on the ORM object, as below.
            stale = db.session.get(SlaClock, stale.id)
        # A re-computation can drop a cycle (a merged history, a priority without that
        # metric). A breach that was recorded, and any supervisor's review of it, stays.
        if stale.state == ClockState.breached.value or stale.review is not None:
            stale.is_running = False
            continue
        db.session.delete(stale)
    ticket.first_response_due_at = _due_of(report.clocks, Metric.first_response)
    ticket.next_response_due_at = _due_of(report.clocks, Metric.next_response)
    ticket.resolution_due_at = _due_of(report.clocks, Metric.resolution)
    ticket.next_due_at = report.next_due_at
    ticket.next_warn_at = min(warnings) if warnings else None
    ticket.sla_state = worst
    return report


def _clock_values(
    clock: Clock, snapshot: dict[str, Any], calendar: BusinessCalendar, now: datetime
) -> dict[str, Any]:
    """The columns of a stored clock for a computed one."""
    running = clock.stopped_at is None and clock.state != ClockState.paused
    warn_at = None
    if running and clock.due_at is not None:
        warn_after = snapshot.get("warn_ratio", 0.75) * clock.target_seconds
        remaining = warn_after - clock.elapsed_seconds
        # Already at risk: the warning instant is now; otherwise the business instant ahead.
        warn_at = now if remaining <= 0 else calendar.add_business_time(now, remaining)
    return {
        "state": clock.state.value,
        "priority": clock.priority,
        "policy_id": snapshot.get("policy_id"),
        "started_at": clock.started_at,
        "due_at": clock.due_at,
        "stopped_at": clock.stopped_at,
        "breached_at": clock.breached_at,
        "elapsed_seconds": clock.elapsed_seconds,
        "paused_seconds": clock.paused_seconds,
        "target_seconds": clock.target_seconds,
        "is_running": running,
        "computed_at": now,
        "segments": [
            {"kind": s.kind, "at": s.at.isoformat(), "detail": s.detail} for s in clock.segments
        ],
        "warn_at": warn_at,
    }


def _due_of(clocks: Sequence[Clock], metric: Metric) -> datetime | None:
    running = [
        c for c in clocks if c.metric == metric and c.stopped_at is None and c.due_at is not None
    ]
    return max(running, key=lambda c: c.cycle).due_at if running else None


def _insert(table: Any) -> Any:
    if db.session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def record_once(
    ticket_id: int, type_: str, at: datetime, *, key: str, data: dict[str, Any]
) -> bool:
    """Insert an event unless one with the same (ticket, type, key) exists; True if inserted.

    The unique constraint decides, not a check-then-insert, so two workers cannot both insert.
    """
    statement = (
        _insert(TicketEvent.__table__)
        .values(ticket_id=ticket_id, at=at, type=type_, data=data, dedup_key=key)
        .on_conflict_do_nothing(index_elements=["ticket_id", "type", "dedup_key"])
    )
    return bool(db.session.execute(statement).rowcount)


def _json_object(dialect: str, **fields: Any) -> Any:
    pairs: list[Any] = []
    for name, column in fields.items():
        pairs.extend([sa.literal(name), column])
    if dialect == "postgresql":
        return sa.func.json_build_object(*pairs)
    return sa.func.json_object(*pairs)


def _iso(dialect: str, column: Any) -> Any:
    if dialect == "postgresql":
        return sa.func.to_char(
            sa.func.timezone("UTC", column), sa.literal('YYYY-MM-DD"T"HH24:MI:SS"Z"')
        )
    return sa.func.strftime("%Y-%m-%dT%H:%M:%SZ", column)


def sweep_clocks(*, now: datetime, name: str = "sla") -> dict[str, Any]:
    """Record clocks that became at risk or breached since the last sweep, exactly once.

    Set-based: one INSERT ... SELECT per kind over the partial indexes on running clocks, with a
    lower bound from the previous sweep so the planner uses the index; then one UPDATE each to
    move clock and ticket states. Safe to run on several workers at once: the unique
    (ticket, type, dedup_key) constraint turns a second insert into nothing.
    """
    dialect = db.session.get_bind().dialect.name
    state = db.session.get(SweepState, name)
    lower = state.last_swept_at if state is not None else None
    clock = SlaClock.__table__
    summary: dict[str, Any] = {}
    breached_tickets: set[int] = set()
    for kind, column, key_parts in (
        ("sla.at_risk", clock.c.warn_at, (clock.c.metric, clock.c.cycle, clock.c.due_at)),
        ("sla.breached", clock.c.due_at, (clock.c.metric, clock.c.cycle)),
    ):
        conditions = [clock.c.is_running, column.is_not(None), column <= now]
        if lower is not None:
            conditions.append(column > lower)
        if kind == "sla.at_risk":
            conditions.append(clock.c.due_at > now)  # went straight to breached: one event
        dedup = key_parts[0]
        for part in key_parts[1:]:
            dedup = dedup + ":" + sa.cast(
                _iso(dialect, part) if part is clock.c.due_at else part, sa.String
            )
        select = sa.select(
            clock.c.ticket_id,
            column,
            sa.literal(kind),
            _json_object(dialect, metric=clock.c.metric, cycle=clock.c.cycle,
                         due_at=_iso(dialect, clock.c.due_at)),
            dedup,
        ).where(*conditions).order_by(clock.c.ticket_id, clock.c.id)
        # A fixed order makes two concurrent sweeps meet on rows in the same sequence, so one
        # waits for the other instead of deadlocking; the unique constraint drops the repeat.
        statement = (
            _insert(TicketEvent.__table__)
            .from_select(["ticket_id", "at", "type", "data", "dedup_key"], select)
            .on_conflict_do_nothing(index_elements=["ticket_id", "type", "dedup_key"])
            .returning(TicketEvent.__table__.c.ticket_id)
        )
        inserted = [row[0] for row in db.session.execute(statement)]
        summary[kind] = len(inserted)
        if kind == "sla.breached":
            breached_tickets.update(inserted)
    moved = _move_states(now, lower)
    summary.update(moved)
    if state is None:
        db.session.add(SweepState(name=name, last_swept_at=now))
    elif state.last_swept_at < now:
        state.last_swept_at = now
    db.session.flush()
    summary["breached_ticket_ids"] = sorted(breached_tickets)
    return summary


def _move_states(now: datetime, lower: datetime | None) -> dict[str, int]:
    """Bring stored clock states in line with the deadlines just passed.

    Ticket rows are left alone: queues read "breached" as next_due_at <= now and "at risk" as
    next_warn_at <= now, so nothing on a ticket goes stale between sweeps. (Rewriting 10,000
    ticket rows, each in every index of that busy table, was most of the sweep's time.)
    """
    clock = SlaClock.__table__
    breached_where = [clock.c.is_running, clock.c.due_at <= now, clock.c.state != "breached"]
    risk_where = [
        clock.c.is_running, clock.c.warn_at <= now, clock.c.due_at > now,
        clock.c.state == "running",
    ]
    if lower is not None:
        breached_where.append(clock.c.due_at > lower)
        risk_where.append(clock.c.warn_at > lower)
    # Two sweeps updating together walk the same index in the same order, so the second waits
    # for the first and then finds nothing left to change (its WHERE is re-checked).
    breached = db.session.execute(
        sa.update(clock).where(*breached_where)
        .values(state="breached", breached_at=clock.c.due_at)
    ).rowcount
    at_risk = db.session.execute(
        sa.update(clock).where(*risk_where).values(state="at_risk")
    ).rowcount
    return {"clocks_breached": breached or 0, "clocks_at_risk": at_risk or 0}


def recompute_open_tickets(*, now: datetime, reapply_policy: bool, batch: int = 500) -> int:
    """Re-evaluate every open ticket; with `reapply_policy`, under the policy that matches now."""
    count = 0
    last_id = 0
    while True:
        tickets = list(db.session.scalars(
            sa.select(Ticket)
            .where(Ticket.status.in_(OPEN_STATUSES), Ticket.id > last_id)
            .order_by(Ticket.id)
            .limit(batch)
        ))
        if not tickets:
            return count
        for ticket in tickets:
            if reapply_policy:
                ticket.sla_policy_snapshot = None
            refresh_ticket_sla(ticket, now=now)
            count += 1
        last_id = tickets[-1].id
        db.session.flush()
        db.session.expunge_all()  # keep memory flat over many tickets


def explain_ticket(ticket: Ticket, *, now: datetime) -> list[tuple[str, list[str]]]:
    """Each clock of the ticket with its story in plain words."""
    report, snapshot = compute_ticket_report(ticket, now=now)
    timezone = snapshot["calendar"].get("timezone", "UTC")
    return [
        (
            f"{clock.metric.value.replace('_', ' ')} #{clock.cycle}: {clock.state.value}",
            describe_clock(clock, timezone),
        )
        for clock in report.clocks
    ]


