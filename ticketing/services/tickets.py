"""Core ticket state changes shared by intake, agents, escalations and the API."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any

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
    the denormalised due columns change in the same transaction as the event. Inside
    `batched_ticket_changes` the work waits for the end of the batch instead.
    """
    batch = _batch.get()
    if batch is not None:
        batch.hold(ticket, now=now, trigger=trigger)
        return
    _bring_up_to_date([(ticket, now, trigger)])


def _bring_up_to_date(
    changes: Sequence[tuple[Ticket, datetime, str]], configuration: _Configuration | None = None
) -> None:
    """SLA clocks, then escalation rules, then webhooks, for each (ticket, instant, trigger)."""
    from ticketing.services import escalations, sla, webhooks

    configuration = configuration or _Configuration()
    sla.refresh_tickets_sla([ticket for ticket, _now, _trigger in changes],
                            now=[now for _ticket, now, _trigger in changes],
                            policies=configuration.policies, bulk=configuration.bulk)
    escalations.evaluate_tickets(changes, rules=configuration.rules)
    for ticket, now, trigger in changes:
        webhooks.ticket_event(ticket, trigger, now=now, endpoints=configuration.endpoints)


@dataclass
class _Configuration:
    """SLA policies, escalation rules and webhook endpoints; None means "read them now"."""

    policies: list[Any] | None = None
    rules: list[Any] | None = None
    endpoints: list[Any] | None = None
    #: SLA clocks written with Core statements: only where no clock is held as an ORM object
    bulk: bool = False

    @classmethod
    def load(cls, *, bulk: bool = False) -> _Configuration:
        from ticketing.services import escalations, sla, webhooks

        return cls(sla.active_policies(), escalations.enabled_rules(),
                   webhooks.active_endpoints(), bulk)


class TicketChangeBatch:
    """Tickets changed during a batch, each brought up to date once when the batch ends.

    A chunk of inbound mail often holds several messages on one ticket; the SLA clocks are
    replayed from the ticket's events, so one refresh after the last message gives the same
    clocks as one after each, and escalation rules then judge the ticket as the batch left it.
    """

    def __init__(self) -> None:
        self._held: dict[int, tuple[Ticket, datetime, str]] = {}

    def hold(self, ticket: Ticket, *, now: datetime, trigger: str) -> None:
        earlier = self._held.get(id(ticket))
        latest = max(now, earlier[1]) if earlier is not None else now
        self._held[id(ticket)] = (ticket, latest, trigger)

    def checkpoint(self) -> dict[int, tuple[Ticket, datetime, str]]:
        """What is held now; `restore` it when the work since then was rolled back."""
        return dict(self._held)

    def restore(self, checkpoint: dict[int, tuple[Ticket, datetime, str]]) -> None:
        self._held = dict(checkpoint)

    def apply(self, *, bulk: bool = False) -> int:
        """Bring every held ticket up to date, in the order first held; how many there were.

        `bulk` writes the SLA clocks with Core statements (`sla.refresh_tickets_sla`): for a
        batch that holds no clock as an ORM object.
        """
        held, self._held = list(self._held.values()), {}
        # Anything these call that changes a ticket again is applied at once, not held.
        token = _batch.set(None)
        try:
            if held:
                # Policies, rules and endpoints read once, and each ticket's events, clocks
                # and rule states in one query for all: several queries per ticket otherwise.
                _bring_up_to_date(held, _Configuration.load(bulk=bulk))
        finally:
            _batch.reset(token)
        return len(held)


_batch: ContextVar[TicketChangeBatch | None] = ContextVar("ticket_change_batch", default=None)


@contextmanager
def batched_ticket_changes() -> Iterator[TicketChangeBatch]:
    """Hold `ticket_changed` calls until the caller applies the batch (the caller must)."""
    batch = TicketChangeBatch()
    token = _batch.set(batch)
    try:
        yield batch
    finally:
        _batch.reset(token)


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
