"""What intake asks the database about a batch of contacts, read up front in a few queries.

Taking a contact in asks about a dozen questions: is this message here already, whose address
is this, which ticket does this Message-ID belong to, what did this customer write lately, how
many acknowledgements went to this address today. One at a time that is a dozen round trips per
mail, and every query first flushes what the mail before it wrote. `IntakeCache` asks each
question once for the whole batch, and keeps the answers current as intake adds customers,
messages and tickets, so a batch is written in one flush at the end.

The rule that keeps it right: an answer is either exact (what the database said at the start,
plus what this batch added since) or None, meaning "ask the database" (intake then queries as it
does without a cache, and the session's autoflush makes the batch's own work visible).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from ticketing.db import reserve_ids
from ticketing.domain.contact import Channel, Contact, Identity
from ticketing.extensions import db
from ticketing.models import (
    Customer,
    CustomerIdentity,
    Direction,
    Message,
    MessageReference,
    OutboxMessage,
    Ticket,
    TicketEvent,
    TicketStatus,
    User,
)

_CLOSED = (TicketStatus.solved, TicketStatus.closed)
#: most tickets of one customer the cache holds; beyond it, that customer is asked about directly
PRIOR_TICKETS_HELD = 100
#: how many IN (...) values one prefetch query carries at most
_IN_LIMIT = 500


class _Unknown:
    """The answer "the cache was not asked this; ask the database"."""

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Any = _Unknown()


@dataclass
class _CustomerTickets:
    """A customer's tickets that can be repeat candidates, with each one's opening words."""

    #: held so that id() keys stay valid for the batch
    customer: Customer
    tickets: dict[int, Ticket] = field(default_factory=dict)
    first_words: dict[int, str] = field(default_factory=dict)
    #: False when the database held more than the cache does, or a ticket it lacks was touched
    complete: bool = True


class IntakeCache:
    """Answers for one batch; an answer is UNKNOWN when intake should ask the database.

    Customers and tickets are filed under their Python identity (`id()`), with the object held,
    because those the batch creates have no database id until the batch is flushed.
    """

    def __init__(self, *, look_back: timedelta, ack_window: timedelta) -> None:
        self._look_back = look_back
        self._ack_window = ack_window
        self._messages: dict[tuple[str, str], Message] = {}
        self._known_external: set[tuple[str, str]] = set()
        self._identities: dict[tuple[str, str], CustomerIdentity | None] = {}
        self._by_rfc_id: dict[str, list[Message]] = defaultdict(list)
        self._known_rfc_ids: set[str] = set()
        self._referencing: dict[str, Message] = {}
        self._known_referenced: set[str] = set()
        self._tickets: dict[int, Ticket] = {}
        self._customers: dict[int, _CustomerTickets] = {}
        self._acks: dict[str, list[datetime]] = defaultdict(list)
        self._known_ack_recipients: set[str] = set()
        self._after_flush: list[Callable[[], None]] = []
        self._events: list[tuple[Ticket, datetime, str, User | None, Message | None,
                                 dict[str, Any]]] = []
        #: until the batch is written, `record_event` hands its events here
        self.holds_events = True

    # -- reading up front ------------------------------------------------------------------

    def prefetch(self, contacts: Sequence[Contact], *, earliest: datetime) -> None:
        """Ask every question the batch will ask, one query per kind of question."""
        external = {(c.channel.value, c.external_id) for c in contacts if c.external_id}
        for channel in sorted({channel for channel, _ in external}):
            ids = sorted(external_id for ch, external_id in external if ch == channel)
            for part in _parts(ids):
                for message in db.session.scalars(
                    sa.select(Message).where(Message.channel == channel,
                                             Message.external_id.in_(part))
                ):
                    self._messages[(channel, message.external_id or "")] = message
        self._known_external |= external

        senders = {(i.kind.value, i.address) for c in contacts for i in _identities_of(c)}
        for kind in sorted({kind for kind, _ in senders}):
            addresses = sorted(address for k, address in senders if k == kind)
            for part in _parts(addresses):
                for row in db.session.scalars(
                    sa.select(CustomerIdentity)
                    .where(CustomerIdentity.kind == kind, CustomerIdentity.address.in_(part))
                    .options(joinedload(CustomerIdentity.customer))
                ):
                    self._identities[(kind, row.address)] = row
        for key in senders:
            self._identities.setdefault(key, None)

        referenced = {
            rfc_id
            for c in contacts if c.channel == Channel.email
            for rfc_id in (*c.thread.in_reply_to, *c.thread.references)
            if rfc_id
        }
        for part in _parts(sorted(referenced)):
            for message in db.session.scalars(
                sa.select(Message).where(Message.rfc_message_id.in_(part))
                .options(joinedload(Message.ticket))
            ):
                self._by_rfc_id[message.rfc_message_id or ""].append(message)
        self._known_rfc_ids |= referenced

        own_ids = {c.thread.message_id for c in contacts
                   if c.channel == Channel.email and c.thread.message_id}
        for part in _parts(sorted(own_ids)):
            for reference in db.session.scalars(
                sa.select(MessageReference).where(MessageReference.rfc_message_id.in_(part))
                .options(joinedload(MessageReference.message).joinedload(Message.ticket))
            ):
                self._referencing.setdefault(reference.rfc_message_id, reference.message)
        self._known_referenced |= own_ids

        tagged = {
            ticket_id
            for c in contacts if c.thread.subject_ticket_ref
            if (ticket_id := Ticket.id_from_reference(c.thread.subject_ticket_ref))
        }
        for part in _parts(sorted(tagged)):
            for ticket in db.session.scalars(sa.select(Ticket).where(Ticket.id.in_(part))):
                self._tickets[ticket.id] = ticket

        customers = {row.customer_id: row.customer
                     for row in self._identities.values() if row is not None}
        self._prefetch_prior_tickets(customers, since=earliest - self._look_back)

        recipients = {address for _kind, address in senders}
        for part in _parts(sorted(recipients)):
            for recipient, created_at in db.session.execute(
                sa.select(OutboxMessage.recipient, OutboxMessage.created_at).where(
                    OutboxMessage.recipient.in_(part),
                    OutboxMessage.purpose == "acknowledgement",
                    OutboxMessage.created_at >= earliest - self._ack_window,
                )
            ):
                self._acks[recipient].append(created_at)
        self._known_ack_recipients |= recipients

    def _prefetch_prior_tickets(self, customers: dict[int, Customer], *, since: datetime) -> None:
        """Each customer's open and recent tickets, as `intake._prior_tickets` selects them."""
        for customer in customers.values():
            self._customers[id(customer)] = _CustomerTickets(customer)
        eligible = sa.and_(
            Ticket.merged_into_id.is_(None),
            sa.or_(Ticket.status.not_in(_CLOSED), Ticket.updated_at >= since),
        )
        first_words = first_inbound_words()
        for part in _parts(sorted(customers)):
            ranked = (
                sa.select(
                    Ticket.id,
                    sa.func.row_number().over(
                        partition_by=Ticket.customer_id, order_by=Ticket.updated_at.desc()
                    ).label("rank"),
                )
                .where(Ticket.customer_id.in_(part), eligible)
                .subquery()
            )
            rows = db.session.execute(
                sa.select(Ticket, first_words, ranked.c.rank)
                .join(ranked, ranked.c.id == Ticket.id)
                .where(ranked.c.rank <= PRIOR_TICKETS_HELD + 1)
            ).all()
            for ticket, first, rank in rows:
                held = self._customers[id(customers[ticket.customer_id])]
                if rank > PRIOR_TICKETS_HELD:
                    held.complete = False
                    continue
                held.tickets[id(ticket)] = ticket
                held.first_words[id(ticket)] = first or ""

    # -- answers -----------------------------------------------------------------------------

    def message(self, channel: str, external_id: str) -> Message | None:
        """The message with this provider id (a redelivery), or None."""
        if (channel, external_id) not in self._known_external:
            return UNKNOWN
        return self._messages.get((channel, external_id))

    def identity(self, identity: Identity) -> CustomerIdentity | None:
        """The stored identity of an address, or None for an address nobody has."""
        return self._identities.get((identity.kind.value, identity.address), UNKNOWN)

    def latest_message(self, rfc_ids: Sequence[str]) -> Message | None:
        """The newest message with one of these Message-IDs, or None."""
        if not set(rfc_ids) <= self._known_rfc_ids:
            return UNKNOWN
        found = [m for rfc_id in rfc_ids for m in self._by_rfc_id.get(rfc_id, ())]
        return max(found, key=lambda m: m.created_at) if found else None

    def referencing(self, rfc_id: str) -> Message | None:
        """A message that named this Message-ID in In-Reply-To or References, or None."""
        if rfc_id not in self._known_referenced:
            return UNKNOWN
        return self._referencing.get(rfc_id)

    def ticket(self, ticket_id: int) -> Ticket | None:
        """A ticket named by a subject tag, or None (UNKNOWN when not read up front)."""
        return self._tickets.get(ticket_id, UNKNOWN)

    def prior_tickets(
        self, customer: Customer, *, now: datetime, limit: int
    ) -> list[tuple[Ticket, str]]:
        """The customer's repeat candidates, newest first, with each one's opening words."""
        held = self._customers.get(id(customer))
        if held is None or not held.complete:
            return UNKNOWN
        since = now - self._look_back
        candidates = [
            (ticket, held.first_words[key]) for key, ticket in held.tickets.items()
            if ticket.merged_into_id is None
            and (ticket.status not in _CLOSED or ticket.updated_at >= since)
        ]
        candidates.sort(key=lambda pair: pair[0].updated_at, reverse=True)
        return candidates[:limit]

    def recent_acknowledgements(self, address: str, *, since: datetime) -> int:
        """How many acknowledgements went (or will go) to the address since an instant."""
        if address not in self._known_ack_recipients:
            return UNKNOWN
        return sum(1 for at in self._acks.get(address, ()) if at >= since)

    # -- what the batch adds -----------------------------------------------------------------

    def added_customer(self, customer: Customer) -> None:
        self._customers[id(customer)] = _CustomerTickets(customer)

    def added_identity(self, row: CustomerIdentity) -> None:
        self._identities[(row.kind, row.address)] = row

    def added_message(self, message: Message, referenced: Sequence[str] = ()) -> None:
        if message.external_id:
            key = (message.channel, message.external_id)
            self._messages[key] = message
            self._known_external.add(key)
        if message.rfc_message_id:
            self._by_rfc_id[message.rfc_message_id].append(message)
        for rfc_id in referenced:
            self._referencing.setdefault(rfc_id, message)

    def opened_ticket(self, ticket: Ticket, first_words: str) -> None:
        held = self._customers.get(id(ticket.customer))
        if held is not None:
            held.tickets[id(ticket)] = ticket
            held.first_words[id(ticket)] = first_words

    def touched_ticket(self, ticket: Ticket) -> None:
        """A ticket the batch changed: its customer's answers must include it from now on."""
        held = self._customers.get(id(ticket.customer))
        if held is not None and id(ticket) not in held.tickets:
            # Its opening words were not read up front: ask the database about this customer.
            held.complete = False

    def acknowledged(self, address: str, at: datetime) -> None:
        self._acks[address].append(at)

    def after_flush(self, work: Callable[[], None]) -> None:
        """Work that needs ids the batch's flush assigns (an acknowledgement quotes T-id)."""
        self._after_flush.append(work)

    def add_event(
        self, ticket: Ticket, type_: str, at: datetime, actor: User | None,
        message: Message | None, data: dict[str, Any],
    ) -> None:
        """An event for the ticket's log, written by `finish` with the others."""
        self._events.append((ticket, at, type_, actor, message, data))

    def give_ids(self, model: type) -> bool:
        """Draw ids for every new row of the model in the batch, in order, without writing them.

        A repeat of a ticket the batch opened quotes that ticket's reference, its id: drawing
        the ids of all tickets opened so far keeps references in opening order and costs one
        query rather than a flush. False on SQLite (no sequences): the caller flushes.
        """
        return assign_ids([row for row in db.session.new if type(row) is model], at_least=1)

    def flush(self) -> None:
        """Write what the batch has so far, now (an id is needed before the end)."""
        assign_ids(db.session.new)
        db.session.flush()

    def finish(self) -> None:
        """Write the batch, then run what waited for its ids, then write that too.

        The events go last, in one INSERT for all of them: as ORM objects they were a third of
        the batch's flush, and nothing reads them back before this.
        """
        self.flush()
        waiting, self._after_flush = self._after_flush, []
        for work in waiting:
            work()
        self.flush()
        self.holds_events = False
        events, self._events = self._events, []
        if events:
            db.session.execute(sa.insert(TicketEvent.__table__), [
                {"ticket_id": ticket.id, "at": at, "type": type_,
                 "actor_id": actor.id if actor is not None else None,
                 "message_id": message.id if message is not None else None,
                 "data": data, "dedup_key": None}
                for ticket, at, type_, actor, message, data in events
            ])


def assign_ids(pending: Iterable[object], *, at_least: int = 2) -> bool:
    """Give new rows their ids from their tables' sequences, in one query (PostgreSQL).

    With its id known, the ORM inserts a table's rows as one prepared statement executed for
    each (psycopg's pipeline) rather than one INSERT ... VALUES ... RETURNING with a thousand
    placeholders, which psycopg must parse anew every time: that parsing was a tenth of a
    batch's time. The ids are the ones the rows would have got, in the order they were added,
    so ticket references stay consecutive. SQLite has no sequences: nothing is drawn there,
    and False says so.
    """
    by_table: dict[sa.Table, list[object]] = defaultdict(list)
    for row in pending:
        table = getattr(type(row), "__table__", None)
        if table is not None and "id" in table.c and getattr(row, "id", 0) is None:
            by_table[table].append(row)
    # One row: the usual INSERT ... RETURNING is as cheap.
    by_table = {table: rows for table, rows in by_table.items() if len(rows) >= at_least}
    reserved = reserve_ids({table: len(rows) for table, rows in by_table.items()})
    if reserved is None:
        return False
    for table, rows in by_table.items():
        # In the order they were added (session.new keeps none; their insert_order does).
        rows.sort(key=lambda row: sa.inspect(row).insert_order)
        for row, new_id in zip(rows, reserved[table], strict=True):
            row.id = new_id  # type: ignore[attr-defined]
    return True


def _identities_of(contact: Contact) -> Iterator[Identity]:
    yield contact.sender
    yield from contact.other_identities


def _parts(values: Sequence[object]) -> Iterator[list[object]]:
    for start in range(0, len(values), _IN_LIMIT):
        yield list(values[start:start + _IN_LIMIT])


_active: ContextVar[IntakeCache | None] = ContextVar("intake_cache", default=None)


def active() -> IntakeCache | None:
    """The cache of the batch being taken in, if intake runs inside `cached_intake`."""
    return _active.get()


def ask(question: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """The active cache's answer to `question` (an IntakeCache method); UNKNOWN without one."""
    cache = _active.get()
    return UNKNOWN if cache is None else question(cache, *args, **kwargs)


def first_inbound_words() -> Any:
    """Each ticket's opening words, as a subquery correlated to `Ticket`.

    On the (ticket_id, created_at) index: a customer with twenty tickets costs one round trip.
    """
    return (
        sa.select(Message.new_text)
        .where(Message.ticket_id == Ticket.id, Message.direction == Direction.inbound)
        .order_by(Message.created_at, Message.id)
        .limit(1)
        .correlate(Ticket)
        .scalar_subquery()
    )


@contextmanager
def cached_intake(
    contacts: Sequence[Contact], *, earliest: datetime, look_back: timedelta,
    ack_window: timedelta,
) -> Iterator[IntakeCache]:
    """Read the batch's answers up front; intake inside uses them instead of querying."""
    cache = IntakeCache(look_back=look_back, ack_window=ack_window)
    cache.prefetch(contacts, earliest=earliest)
    token = _active.set(cache)
    try:
        yield cache
    finally:
        _active.reset(token)
