"""Writing to a ticket's append-only event log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ticketing.extensions import db
from ticketing.models import Message, Ticket, TicketEvent, User


def record_event(
    ticket: Ticket,
    type_: str,
    *,
    now: datetime,
    actor: User | None = None,
    message: Message | None = None,
    **data: Any,
) -> TicketEvent:
    """Append one event to the ticket's log and touch its `updated_at`."""
    event = TicketEvent(
        ticket=ticket,
        at=now,
        type=type_,
        actor=actor,
        message=message,
        data={key: value for key, value in data.items() if value is not None},
    )
    db.session.add(event)
    ticket.updated_at = now
    return event
