"""Enumerations stored as plain strings in the database."""

import enum


class TicketStatus(str, enum.Enum):
    new = "new"
    open = "open"
    pending = "pending"  # waiting on the customer
    on_hold = "on_hold"  # waiting on a third party
    solved = "solved"
    closed = "closed"


#: statuses in which a ticket still needs work from us or the customer
OPEN_STATUSES = (TicketStatus.new, TicketStatus.open, TicketStatus.pending, TicketStatus.on_hold)


class Priority(str, enum.Enum):
    low = "low"
    normal = "normal"
    high = "high"
    urgent = "urgent"


class Role(str, enum.Enum):
    agent = "agent"
    supervisor = "supervisor"
    admin = "admin"


class Direction(str, enum.Enum):
    inbound = "in"
    outbound = "out"
    note = "note"


class DeliveryState(str, enum.Enum):
    queued = "queued"
    sending = "sending"
    sent = "sent"
    delivered = "delivered"
    undelivered = "undelivered"
    failed = "failed"
    read = "read"


class OutboxStatus(str, enum.Enum):
    pending = "pending"
    sent = "sent"
    failed = "failed"  # gave up: permanent refusal or retries exhausted


class InboundStatus(str, enum.Enum):
    received = "received"  # stored, not yet processed
    processed = "processed"
    duplicate = "duplicate"
    ignored = "ignored"  # auto-replies, bounces and opt-out keywords end here when not ticketed
    quarantined = "quarantined"


def enum_values(enum_class: type[enum.Enum]) -> list[str]:
    """Return the stored values of an enum (SQLAlchemy `values_callable`)."""
    return [member.value for member in enum_class]
