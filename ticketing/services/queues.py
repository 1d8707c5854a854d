"""Agent queues: which tickets each queue holds, capped counts, keyset pages and search."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import phonenumbers
import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from ticketing.db import UTCDateTime
from ticketing.extensions import db
from ticketing.models import (
    OPEN_STATUSES,
    Customer,
    CustomerIdentity,
    Message,
    Ticket,
    User,
)

#: rows on one page of a queue
PAGE_SIZE = 50
#: counts stop here ("1000+"): an exact count of a huge queue costs a scan and helps nobody
COUNT_CAP = 1000
#: how many tickets a text search looks at before ordering (bounded work on common words)
SEARCH_SCAN_LIMIT = 5000

#: the open statuses as literals, so PostgreSQL can match the partial index on open tickets
#: (a bound parameter cannot prove the index predicate once a plan is cached)
_OPEN_VALUES = tuple(status.value for status in OPEN_STATUSES)


def _open_tickets() -> sa.ColumnElement[bool]:
    return Ticket.status.in_(
        sa.bindparam("open_statuses", list(_OPEN_VALUES), expanding=True, literal_execute=True)
    )


@dataclass(frozen=True)
class Queue:
    """A named view on the tickets; `where` gives its conditions for one agent at one instant."""

    name: str
    label: str
    description: str
    where: Callable[[User, datetime], list[sa.ColumnElement[bool]]]
    #: the queue is the head of `scan` in deadline order, up to now: pages read that order and
    #: stop at the first ticket not yet due (see `list_queue`)
    scan: Callable[[User, datetime], list[sa.ColumnElement[bool]]] | None = None


def _mine(user: User, now: datetime) -> list[sa.ColumnElement[bool]]:
    return [_open_tickets(), Ticket.assignee_id == user.id]


def _unassigned(user: User, now: datetime) -> list[sa.ColumnElement[bool]]:
    return [_open_tickets(), Ticket.assignee_id.is_(None)]


def _team(user: User, now: datetime) -> list[sa.ColumnElement[bool]]:
    if user.team_id is None:
        return [sa.false()]
    return [_open_tickets(), Ticket.team_id == user.team_id]


def _at_risk(user: User, now: datetime) -> list[sa.ColumnElement[bool]]:
    # Derived from instants, like "breached": the sweep does not rewrite ticket rows.
    return [_open_tickets(), Ticket.next_warn_at <= now, Ticket.next_due_at > now]


def _breached(user: User, now: datetime) -> list[sa.ColumnElement[bool]]:
    # next_due_at is the earliest deadline of a clock still running, so a ticket is overdue
    # now exactly when it lies in the past: no need to wait for the sweep to mark the state.
    # A breached clock that is paused (waiting on the customer) has no deadline: not listed.
    return [_open_tickets(), Ticket.next_due_at <= now]


def _repeat(user: User, now: datetime) -> list[sa.ColumnElement[bool]]:
    # Written with a literal 0 so it matches the partial index ix_tickets_open_repeat_due.
    return [
        _open_tickets(),
        sa.or_(Ticket.repeat_contacts > sa.literal_column("0"), Ticket.repeat_of_id.is_not(None)),
    ]


def _all_open(user: User, now: datetime) -> list[sa.ColumnElement[bool]]:
    return [_open_tickets()]


def live_sla_state(ticket: Ticket, now: datetime) -> str | None:
    """The ticket's SLA state now, from its instants.

    The stored state is as of the last refresh, and the sweep does not rewrite ticket rows.
    """
    if ticket.next_due_at is not None:
        if ticket.next_due_at <= now:
            return "breached"
        if ticket.next_warn_at is not None and ticket.next_warn_at <= now:
            return "at_risk"
        return "running"
    return ticket.sla_state


QUEUES: dict[str, Queue] = {
    queue.name: queue
    for queue in (
        Queue("mine", "Mine", "Open tickets assigned to you", _mine),
        Queue("unassigned", "Unassigned", "Open tickets nobody has taken", _unassigned),
        Queue("team", "My team", "Open tickets of your team", _team),
        Queue("at_risk", "At risk", "Open tickets close to an SLA deadline", _at_risk),
        Queue("breached", "Breached", "Open tickets past an SLA deadline", _breached,
              scan=_all_open),
        Queue("repeat", "Repeat contacts", "Customers who came back about the same problem",
              _repeat),
        Queue("open", "All open", "Every open ticket", _all_open),
    )
}
DEFAULT_QUEUE = "open"


class QueueError(ValueError):
    """An unknown queue or a malformed page cursor."""


# --- cursors ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cursor:
    """Where a page ended: the sort key of its last row.

    Queues sort by (next_due_at, nulls last; id); search results by id, newest first. A cursor
    is "d<microseconds>.<id>" (due), "n.<id>" (no deadline) or "r.<id>" (search order).
    """

    kind: str  # "due", "none" or "recent"
    ticket_id: int
    due_at: datetime | None = None

    def encode(self) -> str:
        if self.kind == "due" and self.due_at is not None:
            micros = int(self.due_at.timestamp() * 1_000_000)
            return f"d{micros}.{self.ticket_id}"
        return f"{'n' if self.kind == 'none' else 'r'}.{self.ticket_id}"

    @classmethod
    def decode(cls, text: str) -> Cursor:
        match = re.fullmatch(r"(?:d(-?\d{1,19})|(n)|(r))\.(\d{1,19})", text or "")
        if match is None:
            raise QueueError("not a page cursor")
        micros, none, recent, ticket_id = match.groups()
        if micros is not None:
            seconds, rest = divmod(int(micros), 1_000_000)
            due = datetime.fromtimestamp(seconds, UTC).replace(microsecond=rest)
            return cls("due", int(ticket_id), due)
        return cls("none" if none else "recent", int(ticket_id))

    @classmethod
    def after(cls, ticket: Ticket, *, recent: bool = False) -> Cursor:
        if recent:
            return cls("recent", ticket.id)
        if ticket.next_due_at is None:
            return cls("none", ticket.id)
        return cls("due", ticket.id, ticket.next_due_at)


@dataclass(frozen=True)
class QueuePage:
    tickets: list[Ticket]
    #: the cursor of the next page, None on the last page
    next_cursor: str | None


# --- listing ------------------------------------------------------------------------------------


def get_queue(name: str | None) -> Queue:
    """Return the queue called `name` (default: all open)."""
    queue = QUEUES.get(name or DEFAULT_QUEUE)
    if queue is None:
        raise QueueError(f"no queue called {name!r}")
    return queue


def list_queue(
    name: str,
    user: User,
    *,
    now: datetime,
    after: str | None = None,
    limit: int | None = None,
) -> QueuePage:
    """One page of a queue, soonest deadline first (tickets without a deadline last)."""
    limit = limit or PAGE_SIZE
    queue = get_queue(name)
    cursor = Cursor.decode(after) if after else None
    if cursor is not None and cursor.kind == "recent":
        raise QueueError("that cursor belongs to a search")
    if queue.scan is not None:
        # Overdue tickets are the head of the open queue in deadline order. Asking for
        # "next_due_at <= now" directly, PostgreSQL misjudged how many match (it multiplies
        # the status and deadline selectivities, which are anything but independent) and
        # sorted every overdue ticket for each page; reading the ordered index and stopping
        # at the first ticket not yet due costs one page whatever the backlog.
        if cursor is not None and cursor.kind != "due":
            return QueuePage([], None)
        rows = _due_rows(queue.scan(user, now), cursor, limit + 1)
        due = [ticket for ticket in rows if ticket.next_due_at <= now]
        return _page(due, limit, recent=False)
    where = queue.where(user, now)
    rows: list[Ticket] = []
    if cursor is None or cursor.kind == "due":
        rows = _due_rows(where, cursor, limit + 1)
    if len(rows) <= limit:
        # The due part is exhausted: continue with the tickets that have no deadline.
        query = _load(sa.select(Ticket)).where(*where, Ticket.next_due_at.is_(None))
        if cursor is not None and cursor.kind == "none":
            query = query.where(Ticket.id > cursor.ticket_id)
        rows += list(
            db.session.scalars(query.order_by(Ticket.id).limit(limit + 1 - len(rows)))
        )
    return _page(rows, limit, recent=False)


def _due_rows(
    where: list[sa.ColumnElement[bool]], cursor: Cursor | None, count: int
) -> list[Ticket]:
    """Up to `count` tickets with a deadline, in (next_due_at, id) order after `cursor`."""
    query = _load(sa.select(Ticket)).where(*where, Ticket.next_due_at.is_not(None))
    if cursor is not None:
        query = query.where(
            sa.tuple_(Ticket.next_due_at, Ticket.id) > _key_of(cursor.due_at, cursor.ticket_id)
        )
    return list(db.session.scalars(query.order_by(Ticket.next_due_at, Ticket.id).limit(count)))


def _page(rows: list[Ticket], limit: int, *, recent: bool) -> QueuePage:
    has_more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = Cursor.after(rows[-1], recent=recent).encode() if has_more and rows else None
    return QueuePage(rows, next_cursor)


def _load(query: sa.Select[Any]) -> sa.Select[Any]:
    # Everything a queue row shows, in a few IN queries after the page is chosen. Joining them
    # into the page query instead let PostgreSQL misjudge a sparse queue (it joined thousands
    # of rows before sorting: 38 ms instead of 0.1 ms for "breached" at 1M tickets).
    return query.options(
        selectinload(Ticket.customer).selectinload(Customer.identities),
        selectinload(Ticket.assignee),
        selectinload(Ticket.team),
        selectinload(Ticket.tags),
    )


def count_queues(user: User, *, now: datetime, cap: int = COUNT_CAP) -> dict[str, int]:
    """How many tickets each queue holds, counted up to `cap` (cap + 1 means "more").

    One round trip: a UNION ALL of one capped count per queue, each an index range scan.
    """
    counts_per_queue = []
    for name, queue in QUEUES.items():
        limited = sa.select(sa.literal(1).label("one")).select_from(Ticket).where(
            *queue.where(user, now)
        ).limit(cap + 1).subquery()
        counts_per_queue.append(
            sa.select(sa.literal(name).label("queue"), sa.func.count().label("tickets"))
            .select_from(limited)
        )
    rows = db.session.execute(sa.union_all(*counts_per_queue)).all()
    counts = {name: 0 for name in QUEUES}
    counts.update({queue: tickets for queue, tickets in rows})
    return counts


def neighbours(
    name: str, user: User, ticket: Ticket, *, now: datetime
) -> tuple[int | None, int | None]:
    """The ids of the tickets before and after `ticket` in a queue's order (for j/k)."""
    where = get_queue(name).where(user, now)
    has_due = Ticket.next_due_at.is_not(None)
    no_due = Ticket.next_due_at.is_(None)

    def first(*clauses: sa.ColumnElement[bool], order: Sequence[Any]) -> int | None:
        return db.session.scalar(
            sa.select(Ticket.id).where(*where, *clauses).order_by(*order).limit(1)
        )

    ascending = (Ticket.next_due_at, Ticket.id)
    descending = (Ticket.next_due_at.desc(), Ticket.id.desc())
    if ticket.next_due_at is None:
        next_id = first(no_due, Ticket.id > ticket.id, order=[Ticket.id])
        previous_id = first(no_due, Ticket.id < ticket.id, order=[Ticket.id.desc()])
        if previous_id is None:
            previous_id = first(has_due, order=descending)
        return previous_id, next_id
    key = sa.tuple_(Ticket.next_due_at, Ticket.id)
    here = _key_of(ticket.next_due_at, ticket.id)
    next_id = first(has_due, key > here, order=ascending)
    if next_id is None:
        next_id = first(no_due, order=[Ticket.id])
    previous_id = first(has_due, key < here, order=descending)
    return previous_id, next_id


def _key_of(due_at: datetime | None, ticket_id: int) -> sa.Tuple:
    # Typed binds: SQLite compares instants as text, so the value must go through UTCDateTime.
    return sa.tuple_(sa.literal(due_at, UTCDateTime()), sa.literal(ticket_id, sa.Integer()))


# --- search -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchTerms:
    """What a search box entry means: a reference, an address, a phone number or words."""

    text: str
    ticket_id: int | None = None
    email: str | None = None
    phone: str | None = None


def parse_search(text: str, *, default_region: str = "NL") -> SearchTerms:
    """Read a search: "T-1042" or "#1042", an e-mail address, a phone number, or free text."""
    text = (text or "").strip()[:200]
    ticket_id = None
    if re.fullmatch(r"#?[Tt]-?\d{1,12}|#\d{1,12}", text):
        ticket_id = int(re.sub(r"\D", "", text))
    email = text.lower() if re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", text) else None
    phone = None
    if re.fullmatch(r"[+()\d][\d\s().\-]{5,}", text):
        try:
            number = phonenumbers.parse(text, default_region)
            if phonenumbers.is_possible_number(number):
                phone = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        except phonenumbers.NumberParseException:
            phone = None
    return SearchTerms(text, ticket_id, email, phone)


def search_tickets(
    text: str,
    *,
    after: str | None = None,
    limit: int | None = None,
    default_region: str = "NL",
) -> QueuePage:
    """Tickets in any status matching a reference, a customer or words, newest first."""
    limit = limit or PAGE_SIZE
    terms = parse_search(text, default_region=default_region)
    if not terms.text:
        return QueuePage([], None)
    cursor = Cursor.decode(after) if after else None
    if cursor is not None and cursor.kind != "recent":
        raise QueueError("that cursor belongs to a queue")
    matches = _matching_ids(terms).subquery()
    # Pick the page's ids from the (small, capped) match set first: joined to all tickets and
    # ordered there, PostgreSQL would walk the whole primary key backwards looking for them.
    page_ids = sa.select(matches.c.id)
    if cursor is not None:
        page_ids = page_ids.where(matches.c.id < cursor.ticket_id)
    page_ids = page_ids.order_by(matches.c.id.desc()).limit(limit + 1)
    query = _load(sa.select(Ticket)).where(Ticket.id.in_(page_ids))
    rows = list(db.session.scalars(query.order_by(Ticket.id.desc())))
    return _page(rows, limit, recent=True)


def count_search(text: str, *, cap: int = COUNT_CAP, default_region: str = "NL") -> int:
    terms = parse_search(text, default_region=default_region)
    if not terms.text:
        return 0
    limited = _matching_ids(terms).limit(cap + 1).subquery()
    count = db.session.scalar(sa.select(sa.func.count()).select_from(limited)) or 0
    if count <= cap and terms.ticket_id is None and not (terms.email or terms.phone):
        # The capped message source may hold many messages of few tickets: if it is full,
        # there are more matches than were looked at, so say "more".
        in_messages = _message_matches(terms.text).subquery()
        if db.session.scalar(sa.select(sa.func.count()).select_from(in_messages)) == (
            SEARCH_SCAN_LIMIT
        ):
            return cap + 1
    return count


def _matching_ids(terms: SearchTerms) -> sa.Select[Any]:
    """The ids of matching tickets, each source on its own index.

    One OR over the sources would make the database test every ticket row (and compute its
    word vector) while walking tickets newest first; a union of indexed lookups does not.
    Each word source is capped, so a very common word costs bounded work (the count then
    shows "1000+" and the agent refines the search).
    """
    if terms.ticket_id is not None:
        return sa.select(Ticket.id).where(Ticket.id == terms.ticket_id)
    identities = [
        sa.and_(CustomerIdentity.kind == kind, CustomerIdentity.address == address)
        for kind, address in (("email", terms.email), ("phone", terms.phone))
        if address
    ]
    if identities:
        # (kind, address) is the unique index; the address alone is not indexed.
        return (
            sa.select(Ticket.id)
            .join(CustomerIdentity, CustomerIdentity.customer_id == Ticket.customer_id)
            .where(sa.or_(*identities))
        )
    words = terms.text
    by_name = (
        sa.select(Ticket.id)
        .join(Customer, Customer.id == Ticket.customer_id)
        .where(_text_match(Customer.name, words))
        .limit(SEARCH_SCAN_LIMIT)
    )
    by_subject = (
        sa.select(Ticket.id).where(_text_match(Ticket.subject, words)).limit(SEARCH_SCAN_LIMIT)
    )
    by_text = _message_matches(words)
    union = sa.union(
        *(sa.select(part.c.id) for part in (
            by_name.subquery(), by_subject.subquery(), by_text.subquery()
        ))
    ).subquery()
    return sa.select(union.c.id)


def _message_matches(words: str) -> sa.Select[Any]:
    return (
        sa.select(Message.ticket_id.label("id"))
        .where(_text_match(Message.new_text, words))
        .limit(SEARCH_SCAN_LIMIT)
    )


def _text_match(column: sa.ColumnElement[str], words: str) -> sa.ColumnElement[bool]:
    """Word search: PostgreSQL full text (GIN-indexed), substring match elsewhere."""
    if db.session.get_bind().dialect.name == "postgresql":
        vector = sa.func.to_tsvector(sa.literal_column("'simple'"), column)
        query = sa.func.websearch_to_tsquery(sa.literal_column("'simple'"), words)
        return vector.op("@@")(query)
    return column.ilike(f"%{_escape_like(words)}%", escape="\\")


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def ticket_ids(tickets: Sequence[Ticket]) -> list[int]:
    return [ticket.id for ticket in tickets]
