"""What the REST API reads and changes: ticket lists by keyset, details, the event feed."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from ticketing.extensions import db
from ticketing.models import (
    Customer,
    CustomerIdentity,
    Message,
    Priority,
    SlaClock,
    Tag,
    Team,
    Ticket,
    TicketEvent,
    TicketStatus,
    User,
)
from ticketing.services import ticket_actions
from ticketing.services.tickets import ticket_messages

#: the sort keys a ticket list accepts; "-" means newest first
TICKET_SORTS = {"updated_at": Ticket.updated_at, "opened_at": Ticket.opened_at}
#: event types that record why a contact counts as the customer coming back
REPEAT_EVENT_TYPES = ("repeat.detected", "repeat.linked")


class FieldError(ValueError):
    """A value in the request that names something that does not exist or cannot be used."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field_name = field_name
        self.message = message


@dataclass(frozen=True)
class TicketFilters:
    statuses: tuple[TicketStatus, ...] = ()
    priorities: tuple[Priority, ...] = ()
    channels: tuple[str, ...] = ()
    team_id: int | None = None
    assignee_id: int | None = None
    #: only tickets nobody is assigned to
    unassigned: bool = False
    customer_id: int | None = None
    tag: str | None = None
    #: changed at or after this instant
    updated_since: datetime | None = None


def search_tickets(
    filters: TicketFilters,
    *,
    sort: str = "-updated_at",
    after: tuple[datetime, int] | None = None,
    limit: int = 25,
) -> tuple[list[Ticket], bool]:
    """One page of tickets in a stable keyset order; return (tickets, whether more follow).

    `after` is the (sort value, id) of the last ticket of the previous page, so pages neither
    skip nor repeat rows while tickets are added; a ticket whose sort value changes between two
    pages moves, as in any keyset listing.
    """
    descending = sort.startswith("-")
    column = TICKET_SORTS[sort.lstrip("-")]
    query = sa.select(Ticket).where(*_conditions(filters))
    if after is not None:
        value, ticket_id = after
        if descending:
            query = query.where(
                sa.or_(column < value, sa.and_(column == value, Ticket.id < ticket_id))
            )
        else:
            query = query.where(
                sa.or_(column > value, sa.and_(column == value, Ticket.id > ticket_id))
            )
    order = (column.desc(), Ticket.id.desc()) if descending else (column.asc(), Ticket.id.asc())
    rows = list(
        db.session.scalars(_with_summary(query).order_by(*order).limit(limit + 1))
    )
    return rows[:limit], len(rows) > limit


def sort_value(ticket: Ticket, sort: str) -> datetime:
    return getattr(ticket, sort.lstrip("-"))


def _conditions(filters: TicketFilters) -> list[Any]:
    conditions: list[Any] = []
    if filters.statuses:
        conditions.append(Ticket.status.in_(filters.statuses))
    if filters.priorities:
        conditions.append(Ticket.priority.in_(filters.priorities))
    if filters.channels:
        conditions.append(Ticket.channel.in_(filters.channels))
    if filters.team_id is not None:
        conditions.append(Ticket.team_id == filters.team_id)
    if filters.unassigned:
        conditions.append(Ticket.assignee_id.is_(None))
    elif filters.assignee_id is not None:
        conditions.append(Ticket.assignee_id == filters.assignee_id)
    if filters.customer_id is not None:
        conditions.append(Ticket.customer_id == filters.customer_id)
    if filters.tag:
        conditions.append(Ticket.tags.any(Tag.name == filters.tag.lower()))
    if filters.updated_since is not None:
        conditions.append(Ticket.updated_at >= filters.updated_since)
    return conditions


def _with_summary(query: sa.Select[Any]) -> sa.Select[Any]:
    # What the summary view shows, in a few IN queries instead of several per row.
    return query.options(
        selectinload(Ticket.customer).selectinload(Customer.identities),
        selectinload(Ticket.team),
        selectinload(Ticket.assignee),
        selectinload(Ticket.tags),
        selectinload(Ticket.repeat_of),
        selectinload(Ticket.merged_into),
    )


@dataclass
class TicketDetail:
    """A ticket with what GET one shows besides its own columns; reads through to the ticket."""

    ticket: Ticket
    messages: list[Message] = field(default_factory=list)
    clocks: list[SlaClock] = field(default_factory=list)
    repeat_detections: list[TicketEvent] = field(default_factory=list)
    repeated_by: list[str] = field(default_factory=list)

    def __getattr__(self, name: str) -> Any:
        # Only called for names the dataclass lacks: every ticket column and relationship.
        return getattr(self.ticket, name)


def ticket_detail(ticket: Ticket) -> TicketDetail:
    """Load the messages (notes included), clocks and repeat-contact evidence of a ticket."""
    messages = ticket_messages(ticket)
    clocks = list(
        db.session.scalars(
            sa.select(SlaClock)
            .where(SlaClock.ticket_id == ticket.id)
            .order_by(SlaClock.metric, SlaClock.cycle)
        )
    )
    detections = list(
        db.session.scalars(
            sa.select(TicketEvent)
            .where(TicketEvent.ticket_id == ticket.id, TicketEvent.type.in_(REPEAT_EVENT_TYPES))
            .order_by(TicketEvent.at, TicketEvent.id)
        )
    )
    later = db.session.scalars(
        sa.select(Ticket.id).where(Ticket.repeat_of_id == ticket.id).order_by(Ticket.id)
    )
    return TicketDetail(
        ticket=ticket,
        messages=messages,
        clocks=clocks,
        repeat_detections=detections,
        repeated_by=[f"T-{ticket_id}" for ticket_id in later],
    )


_UNSET: Any = object()


def update_ticket(
    ticket: Ticket,
    *,
    actor: User,
    now: datetime,
    status: TicketStatus | None = None,
    priority: Priority | None = None,
    assignee_id: int | None = _UNSET,
    team_id: int | None = _UNSET,
    tags: list[str] | None = None,
) -> list[str]:
    """Apply the changes an API client asked for with the agents' own actions.

    Each change is recorded as the agent screen records it (same events, same SLA effects).
    Return the names of what changed.

    Raises:
        FieldError: an assignee or team that does not exist or cannot take tickets.
        ticket_actions.ActionError: a change the ticket does not allow (e.g. it was merged).
    """
    changed: list[str] = []
    if assignee_id is not _UNSET or team_id is not _UNSET:
        assignee = ticket.assignee if assignee_id is _UNSET else _user(assignee_id)
        team = ticket.team if team_id is _UNSET else _team(team_id)
        try:
            if ticket_actions.assign(ticket, assignee=assignee, team=team, actor=actor, now=now):
                changed.append("assignment")
        except ticket_actions.ActionError as error:
            raise FieldError("assignee_id", str(error)) from None
    if priority is not None and ticket_actions.set_priority(
        ticket, priority, actor=actor, now=now
    ):
        changed.append("priority")
    if tags is not None and ticket_actions.set_tags(ticket, tags, actor=actor, now=now):
        changed.append("tags")
    if status is not None and ticket_actions.set_status(ticket, status, actor=actor, now=now):
        changed.append("status")
    return changed


def _user(user_id: int | None) -> User | None:
    if user_id is None:
        return None
    user = db.session.get(User, user_id)
    if user is None:
        raise FieldError("assignee_id", f"No user {user_id}.")
    return user


def _team(team_id: int | None) -> Team | None:
    if team_id is None:
        return None
    team = db.session.get(Team, team_id)
    if team is None:
        raise FieldError("team_id", f"No team {team_id}.")
    return team


def check_references(*, assignee_id: int | None = None, team_id: int | None = None) -> None:
    """Refuse ids of users or teams that do not exist, before anything is stored."""
    _user(assignee_id)
    _team(team_id)


def event_feed(
    *,
    after_id: int,
    limit: int,
    settled_before: datetime,
    ticket_id: int | None = None,
    types: tuple[str, ...] = (),
) -> tuple[list[TicketEvent], bool]:
    """Events with an id above `after_id`, oldest first; return (events, whether more follow).

    The feed stops at the first event recorded at or after `settled_before`. Ids are handed out
    when a transaction inserts, not when it commits, so a just-written event can still be
    joined by a lower id from a slower transaction; waiting a moment keeps the cursor from
    stepping over it.
    """
    query = sa.select(TicketEvent).where(TicketEvent.id > after_id)
    if ticket_id is not None:
        query = query.where(TicketEvent.ticket_id == ticket_id)
    if types:
        query = query.where(TicketEvent.type.in_(types))
    rows = list(db.session.scalars(query.order_by(TicketEvent.id).limit(limit + 1)))
    settled: list[TicketEvent] = []
    for event in rows[:limit]:
        if event.at >= settled_before:
            return settled, False
        settled.append(event)
    return settled, len(rows) > limit and rows[limit].at < settled_before


def find_customers(*, email: str | None = None, phone: str | None = None) -> list[Customer]:
    """Customers owning the exact address given (an address belongs to one customer)."""
    wanted = []
    if email:
        wanted.append(
            sa.and_(
                CustomerIdentity.kind == "email",
                CustomerIdentity.address == email.strip().lower(),
            )
        )
    if phone:
        wanted.append(sa.and_(CustomerIdentity.kind == "phone", CustomerIdentity.address == phone))
    if not wanted:
        return []
    return list(
        db.session.scalars(
            sa.select(Customer)
            .where(
                Customer.id.in_(
                    sa.select(CustomerIdentity.customer_id).where(sa.or_(*wanted))
                )
            )
            .options(selectinload(Customer.identities), selectinload(Customer.tags))
            .order_by(Customer.id)
        )
    )
