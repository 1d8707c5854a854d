"""Tickets, their tags, their append-only event log and who is looking at them."""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ticketing.clock import utcnow
from ticketing.db import UTCDateTime, db
from ticketing.models.enums import Priority, TicketStatus, enum_values

if TYPE_CHECKING:
    from ticketing.models.customer import Customer
    from ticketing.models.message import Message
    from ticketing.models.sla import SlaClock, SlaPolicy
    from ticketing.models.user import Team, User

#: References are the ticket id with a prefix; this keeps them unique without a counter table.
REFERENCE_PREFIX = "T-"
_REFERENCE_RE = re.compile(r"^\s*#?T-?(\d{1,12})\s*$", re.IGNORECASE)

#: The open statuses written out: a partial index predicate must match the queue queries
#: literally (services/queues.py renders the same list as literals).
OPEN_TICKETS_SQL = "status IN ('new', 'open', 'pending', 'on_hold')"
#: the "repeat contacts" queue condition, literal for the same reason
REPEAT_TICKETS_SQL = "(repeat_contacts > 0 OR repeat_of_id IS NOT NULL)"


def _open_ticket_index(name: str, *columns: str, where: str | None = None) -> sa.Index:
    predicate = OPEN_TICKETS_SQL if where is None else f"{OPEN_TICKETS_SQL} AND {where}"
    return sa.Index(
        name, *columns, postgresql_where=sa.text(predicate), sqlite_where=sa.text(predicate)
    )


ticket_tags = sa.Table(
    "ticket_tags",
    db.metadata,
    sa.Column("ticket_id", sa.ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("tag_id", sa.ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True),
)


class Tag(db.Model):
    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: lower-case, no spaces
    name: Mapped[str] = mapped_column(sa.String(64), unique=True)


class Ticket(db.Model):
    __tablename__ = "tickets"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(sa.ForeignKey("customers.id"), index=True)
    subject: Mapped[str] = mapped_column(sa.String(300), default="")
    status: Mapped[TicketStatus] = mapped_column(
        sa.Enum(TicketStatus, native_enum=False, length=20, values_callable=enum_values),
        default=TicketStatus.new,
    )
    priority: Mapped[Priority] = mapped_column(
        sa.Enum(Priority, native_enum=False, length=20, values_callable=enum_values),
        default=Priority.normal,
    )
    #: channel of the first contact: "email", "sms", "web"
    channel: Mapped[str] = mapped_column(sa.String(16))
    team_id: Mapped[int | None] = mapped_column(sa.ForeignKey("teams.id", ondelete="SET NULL"))
    assignee_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    #: the SLA policy chosen when the ticket opened (a changed policy applies to new clocks)
    policy_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("sla_policies.id", ondelete="SET NULL")
    )
    #: the policy's calendar, targets, pauses and warn ratio as they were when the ticket opened:
    #: a changed policy applies to new tickets; `flask sla recompute` re-applies it on request
    sla_policy_snapshot: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    #: detected language of the customer's first message
    language: Mapped[str | None] = mapped_column(sa.String(8))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_customer_message_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_agent_reply_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    solved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    # Denormalised SLA results, refreshed in the same transaction as every event that changes
    # them; the clocks themselves live in `sla_clocks`.
    first_response_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_response_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolution_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: earliest due instant among running clocks (breached ones included); the queue sort key
    next_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: earliest instant a running clock reaches its warning ratio: the "at risk" queue is
    #: next_warn_at <= now < next_due_at, so the sweep never has to rewrite ticket rows
    next_warn_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    #: worst state among the clocks at the last refresh: "running", "at_risk", "breached" or
    #: None; for display and rules — queues derive the live state from the instants above
    sla_state: Mapped[str | None] = mapped_column(sa.String(16))
    #: whether any clock of this ticket has ever breached
    has_breached: Mapped[bool] = mapped_column(default=False)

    #: every inbound customer message counts once
    contact_count: Mapped[int] = mapped_column(default=0)
    #: contacts judged to be the customer coming back about the same problem
    repeat_contacts: Mapped[int] = mapped_column(default=0)
    #: inbound messages with at least one again-cue ("alweer", "still")
    again_mentions: Mapped[int] = mapped_column(default=0)
    escalation_level: Mapped[int] = mapped_column(default=0)
    #: the earlier ticket this one is a repeat of
    repeat_of_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("tickets.id", ondelete="SET NULL")
    )
    #: set when merged: replies are routed to the surviving ticket
    merged_into_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("tickets.id", ondelete="SET NULL")
    )

    customer: Mapped[Customer] = relationship(back_populates="tickets")
    team: Mapped[Team | None] = relationship()
    assignee: Mapped[User | None] = relationship()
    policy: Mapped[SlaPolicy | None] = relationship()
    tags: Mapped[list[Tag]] = relationship(secondary=ticket_tags, order_by="Tag.name")
    messages: Mapped[list[Message]] = relationship(
        back_populates="ticket", order_by="Message.created_at, Message.id"
    )
    events: Mapped[list[TicketEvent]] = relationship(
        back_populates="ticket", order_by="TicketEvent.at, TicketEvent.id"
    )
    clocks: Mapped[list[SlaClock]] = relationship(
        back_populates="ticket", order_by="SlaClock.metric, SlaClock.cycle"
    )
    repeat_of: Mapped[Ticket | None] = relationship(remote_side=[id], foreign_keys=[repeat_of_id])
    merged_into: Mapped[Ticket | None] = relationship(
        remote_side=[id], foreign_keys=[merged_into_id]
    )

    __table_args__ = (
        sa.Index("ix_tickets_next_due_at", "next_due_at"),
        sa.Index("ix_tickets_status_next_due", "status", "next_due_at", "id"),
        sa.Index("ix_tickets_assignee_status", "assignee_id", "status"),
        sa.Index("ix_tickets_team_status", "team_id", "status"),
        sa.Index("ix_tickets_customer_opened", "customer_id", "opened_at"),
        sa.Index("ix_tickets_opened_at", "opened_at"),
        # Supervisor reports: tickets solved in a period (first-contact resolution), and the ids
        # of one team's, agent's or channel's tickets read from the index alone, to join the
        # clocks of a period with (a hash join instead of visiting every such ticket row).
        sa.Index("ix_tickets_solved_at", "solved_at"),
        sa.Index("ix_tickets_team_id", "team_id", "id"),
        sa.Index("ix_tickets_assignee_id", "assignee_id", "id"),
        sa.Index("ix_tickets_channel_id", "channel", "id"),
        # the escalation sweep finds "N minutes since the customer's last message" flips by it
        sa.Index("ix_tickets_last_customer_message_at", "last_customer_message_at"),
        # the API lists and syncs tickets by the (updated_at, id) keyset
        sa.Index("ix_tickets_updated_at_id", "updated_at", "id"),
        # Agent queues (services/queues.py): partial indexes over the open tickets only, each
        # in the queue order (next_due_at, id), so a page is an index range scan also when a
        # queue is empty or sparse.
        _open_ticket_index("ix_tickets_open_due", "next_due_at", "id"),
        _open_ticket_index("ix_tickets_open_assignee_due", "assignee_id", "next_due_at", "id"),
        _open_ticket_index("ix_tickets_open_team_due", "team_id", "next_due_at", "id"),
        # "at risk" is next_warn_at <= now < next_due_at: one index-only range on both
        _open_ticket_index("ix_tickets_open_warn_due", "next_warn_at", "next_due_at", "id"),
        _open_ticket_index("ix_tickets_open_repeat_due", "next_due_at", "id",
                           where=REPEAT_TICKETS_SQL),
        # Word search over subjects (agent search), PostgreSQL only, like messages.new_text.
        sa.Index(
            "ix_tickets_subject_search",
            sa.text("to_tsvector('simple', subject)"),
            postgresql_using="gin",
        ).ddl_if(dialect="postgresql"),
    )

    @property
    def reference(self) -> str:
        return f"{REFERENCE_PREFIX}{self.id}"

    @staticmethod
    def id_from_reference(reference: str) -> int | None:
        """Return the ticket id a reference such as "T-1042" or "#1042" names, or None."""
        match = _REFERENCE_RE.match(reference or "")
        if match is None:
            match = re.match(r"^\s*(\d{1,12})\s*$", reference or "")
        return int(match.group(1)) if match else None

    @property
    def is_open(self) -> bool:
        return self.status not in (TicketStatus.solved, TicketStatus.closed)

    def __repr__(self) -> str:
        return f"<Ticket {self.reference} {self.status.value}>"


class TicketEvent(db.Model):
    """Append-only log of everything that happened to a ticket; never updated or deleted."""

    __tablename__ = "ticket_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(sa.ForeignKey("tickets.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: dotted name: "message.received", "reply.sent", "status.changed", "sla.breached", ...
    type: Mapped[str] = mapped_column(sa.String(64))
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    message_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("messages.id", ondelete="SET NULL")
    )
    #: event details (old and new values, reasons); small JSON
    data: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    #: for events that must be recorded once (SLA sweeps): a unique key within ticket and type
    dedup_key: Mapped[str | None] = mapped_column(sa.String(200))

    ticket: Mapped[Ticket] = relationship(back_populates="events")
    actor: Mapped[User | None] = relationship()
    #: lets an event name a message that is not written yet (one flush writes both)
    message: Mapped[Message | None] = relationship()

    __table_args__ = (
        sa.Index("ix_ticket_events_ticket_at", "ticket_id", "at"),
        sa.Index("ix_ticket_events_type_at", "type", "at"),
        sa.UniqueConstraint("ticket_id", "type", "dedup_key"),
    )


class TicketPresence(db.Model):
    """Who has a ticket open right now, and whether they are typing a reply (collision)."""

    __tablename__ = "ticket_presence"

    ticket_id: Mapped[int] = mapped_column(
        sa.ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    is_replying: Mapped[bool] = mapped_column(default=False)
