"""Core ticket state changes shared by intake, agents, escalations and the API."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from ticketing.extensions import db
from ticketing.models import Message, Priority, Tag, Ticket, TicketStatus, User
from ticketing.services.events import record_event

_CLOSED = (TicketStatus.solved, TicketStatus.closed)


def change_status(
    ticket: Ticket,
    status: TicketStatus,
    *,
    now: datetime,
    actor: User | None = None,
    reason: str | None = None,
) -> bool:
    """Move a ticket to a status, recording the change; return whether anything changed."""
    previous = ticket.status
    if previous == status:
        return False
    ticket.status = status
    if status == TicketStatus.solved:
        ticket.solved_at = now
    elif status == TicketStatus.closed:
        ticket.closed_at = now
        ticket.solved_at = ticket.solved_at or now
    if previous in _CLOSED and status not in _CLOSED:
        ticket.solved_at = None
        ticket.closed_at = None
        record_event(ticket, "ticket.reopened", now=now, actor=actor, reason=reason)
    record_event(
        ticket,
        "status.changed",
        now=now,
        actor=actor,
        old=previous.value,
        new=status.value,
        reason=reason,
    )
    return True


def change_priority(
    ticket: Ticket, priority: Priority, *, now: datetime, actor: User | None = None,
    reason: str | None = None,
) -> bool:
    previous = ticket.priority
    if previous == priority:
        return False
    ticket.priority = priority
    record_event(
        ticket, "priority.changed", now=now, actor=actor, old=previous.value,
        new=priority.value, reason=reason,
    )
    return True


def ticket_changed(ticket: Ticket, *, now: datetime, trigger: str) -> None:
    """Bring derived state up to date after an event: SLA clocks, then escalation rules.

    Every service that records an event which can move a clock calls this before returning, so
    the denormalised due columns change in the same transaction as the event.
    """
    from ticketing.services import escalations, sla, webhooks

    db.session.flush()
    sla.refresh_ticket_sla(ticket, now=now)
    escalations.evaluate_ticket(ticket, now=now, trigger=trigger)
    webhooks.ticket_event(ticket, trigger, now=now)


def get_or_create_tag(name: str) -> Tag:
    """Return the tag with this (already normalised) name, creating it if needed."""
    tag = db.session.scalar(sa.select(Tag).where(Tag.name == name))
    if tag is not None:
        return tag
    try:
        with db.session.begin_nested():
            tag = Tag(name=name)
            db.session.add(tag)
    except IntegrityError:
        # Another transaction created the same tag a moment ago: use theirs.
        tag = db.session.scalar(sa.select(Tag).where(Tag.name == name))
        if tag is None:
            raise
    return tag


def ticket_messages(ticket: Ticket) -> list[Message]:
    """Every message of the ticket (notes included) in order, with what a timeline shows."""
    return list(
        db.session.scalars(
            sa.select(Message)
            .where(Message.ticket_id == ticket.id)
            .options(
                selectinload(Message.attachments),
                selectinload(Message.author),
                selectinload(Message.identity),
            )
            .order_by(Message.created_at, Message.id)
        )
    )
