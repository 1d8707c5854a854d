"""Supervisors acknowledge, annotate or excuse breached SLA clocks; every change is kept."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from ticketing.domain.sla import Clock, ClockSegment, ClockState, Metric, describe_clock
from ticketing.extensions import db
from ticketing.models import BreachReview, Role, SlaClock, Ticket, TicketEvent, User
from ticketing.services.events import record_event

#: what a supervisor can do with a breach, and the decision each leaves behind
ACTIONS = {"acknowledge": "acknowledged", "annotate": None, "excuse": "excused"}
#: the stored decisions; "annotated" is a review that has notes but no decision yet
DECISIONS = ("acknowledged", "annotated", "excused")
MAX_TEXT = 2000
EVENT_TYPE = "breach.reviewed"


class BreachReviewError(ValueError):
    """A review that cannot be recorded; the message is safe to show."""


def review_breach(
    clock: SlaClock,
    *,
    action: str,
    text: str,
    reviewer: User,
    now: datetime,
) -> BreachReview:
    """Acknowledge, annotate or excuse a breached clock and log the change on its ticket.

    An acknowledgement may come without words; an excuse, an annotation and the withdrawal of
    an excuse need a reason. The review row holds the current decision, its reason and the
    latest note; the "breach.reviewed" events hold every earlier version.

    Raises:
        BreachReviewError: the clock is not breached, the action is unknown or a reason is
            missing. PermissionError: the reviewer is not a supervisor.
    """
    if not reviewer.has_role(Role.supervisor):
        raise PermissionError("only supervisors review breaches")
    if action not in ACTIONS:
        raise BreachReviewError(f"unknown review action {action!r}")
    if clock.state != "breached":
        raise BreachReviewError("only a breached clock can be reviewed")
    text = (text or "").strip()
    if len(text) > MAX_TEXT:
        raise BreachReviewError(f"keep the reason under {MAX_TEXT} characters")

    review = _review_of(clock)
    previous = (review.decision, review.reason, review.note) if review is not None else None
    if action in ("excuse", "annotate") and not text:
        raise BreachReviewError("an excuse or a note needs a reason")
    if action == "acknowledge" and previous and previous[0] == "excused" and not text:
        raise BreachReviewError("say why the excuse is withdrawn")

    if review is None:
        review = _create_review(clock, now)
    decision = ACTIONS[action] or (review.decision if previous else "annotated")
    review.decision = decision
    if action == "annotate":
        review.note = text
    else:
        review.reason = text
    review.reviewer_id = reviewer.id
    review.reviewed_at = now

    ticket = db.session.get(Ticket, clock.ticket_id)
    record_event(
        ticket,
        EVENT_TYPE,
        now=now,
        actor=reviewer,
        clock_id=clock.id,
        metric=clock.metric,
        cycle=clock.cycle,
        action=action,
        decision=decision,
        text=text or None,
        previous_decision=previous[0] if previous else None,
        previous_reason=(previous[1] or None) if previous else None,
        previous_note=previous[2] if previous else None,
    )
    db.session.flush()
    return review


def _review_of(clock: SlaClock) -> BreachReview | None:
    return db.session.scalar(sa.select(BreachReview).where(BreachReview.clock_id == clock.id))


def _create_review(clock: SlaClock, now: datetime) -> BreachReview:
    """Insert the clock's one review row; a concurrent reviewer's row wins and is reused."""
    review = BreachReview(clock_id=clock.id, decision="annotated", reason="", reviewed_at=now)
    try:
        with db.session.begin_nested():
            db.session.add(review)
            db.session.flush()
    except IntegrityError:
        existing = _review_of(clock)
        if existing is None:
            raise
        return existing
    return review


def review_history(clocks: Iterable[SlaClock]) -> dict[int, list[TicketEvent]]:
    """Every "breach.reviewed" event of the given clocks, oldest first, by clock id."""
    clocks = list(clocks)
    history: dict[int, list[TicketEvent]] = {clock.id: [] for clock in clocks}
    ticket_ids = sorted({clock.ticket_id for clock in clocks})
    if not ticket_ids:
        return history
    events = db.session.scalars(
        sa.select(TicketEvent)
        .where(TicketEvent.ticket_id.in_(ticket_ids), TicketEvent.type == EVENT_TYPE)
        .order_by(TicketEvent.at, TicketEvent.id)
    )
    for event in events:
        clock_id = (event.data or {}).get("clock_id")
        if clock_id in history:
            history[clock_id].append(event)
    return history


def clock_from_row(row: SlaClock | dict[str, Any]) -> Clock:
    """Turn a stored clock (a row, or a mapping of its columns) back into the domain's Clock."""
    get = row.get if isinstance(row, dict) else lambda name: getattr(row, name)
    segments = tuple(
        ClockSegment(
            kind=str(segment.get("kind")),
            at=datetime.fromisoformat(str(segment.get("at"))),
            detail=segment.get("detail"),
        )
        for segment in (get("segments") or ())
        if segment.get("kind") and segment.get("at")
    )
    return Clock(
        metric=Metric(get("metric")),
        cycle=int(get("cycle")),
        state=ClockState(get("state") or "breached"),
        started_at=get("started_at"),
        due_at=get("due_at"),
        stopped_at=get("stopped_at"),
        breached_at=get("breached_at"),
        elapsed_seconds=int(get("elapsed_seconds") or 0),
        paused_seconds=int(get("paused_seconds") or 0),
        target_seconds=int(get("target_seconds") or 0),
        segments=segments,
        priority=str(get("priority") or ""),
    )


def explain_clock(row: SlaClock | dict[str, Any], timezone: str) -> list[str]:
    """The clock's story in plain sentences, from its stored segments."""
    return describe_clock(clock_from_row(row), timezone)
