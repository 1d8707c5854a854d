"""Writing to a ticket's append-only event log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ticketing.extensions import db
from ticketing.models import Message, Ticket, TicketEvent, User
from ticketing.services import intake_cache


def record_event(
    ticket: Ticket,
    type_: str,
    *,
    now: datetime,
    actor: User | None = None,
    message: Message | None = None,
    **data: Any,
) -> TicketEvent | None:
    """Append one event to the ticket's log and touch its `updated_at`.

    Inside a batch being taken in (`intake_cache.cached_intake`) the event is written with the
    batch, in one statement for all of its events, and None is returned.
    """
    values = {key: value for key, value in data.items() if value is not None}
    cache = intake_cache.active()
    if cache is not None and cache.holds_events:
        cache.add_event(ticket, type_, now, actor, message, values)
        ticket.updated_at = now
        return None
    event = TicketEvent(
        ticket=ticket,
        at=now,
        type=type_,
        actor=actor,
        message=message,
        data=values,
    )
    db.session.add(event)
    ticket.updated_at = now
    return event
