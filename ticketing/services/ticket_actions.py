"""What agents do to a ticket: reply, note, assign, status, tags, merge, split, link, presence."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from ticketing.domain.contact import Channel, Identity, IdentityKind, OutboundMessage
from ticketing.domain.sms import SegmentInfo, sms_segments
from ticketing.extensions import db
from ticketing.models import (
    CustomerIdentity,
    DeliveryState,
    Direction,
    Message,
    Priority,
    Role,
    Team,
    Ticket,
    TicketEvent,
    TicketPresence,
    TicketStatus,
    TrackingToken,
    User,
)
from ticketing.services import outbox
from ticketing.services.events import record_event
from ticketing.services.intake import new_message_id
from ticketing.services.sms import SmsRefused, prepare_sms_reply
from ticketing.services.tickets import (
    change_priority,
    change_status,
    get_or_create_tag,
    ticket_changed,
)

#: a viewer whose page has not polled for this long has left
PRESENCE_WINDOW = timedelta(seconds=45)
#: how many Message-IDs a reply carries in References (RFC 5322 allows trimming the middle)
MAX_REFERENCES = 20
#: statuses an agent may choose after sending a reply
REPLY_STATUSES = (TicketStatus.open, TicketStatus.pending, TicketStatus.on_hold,
                  TicketStatus.solved)
#: event types copied onto the surviving ticket of a merge, so its SLA clocks see them
_SLA_EVENT_TYPES = ("message.received", "reply.sent")
_TAG_RE = re.compile(r"[^a-z0-9_:.\-]+")
_MAX_TAG_LENGTH = 64


class ActionError(ValueError):
    """An action that cannot be done as asked; the message is safe to show to the agent."""


class NewerMessagesError(ActionError):
    """The customer wrote again after the agent loaded the page; the reply needs confirmation."""

    def __init__(self, messages: list[Message]) -> None:
        count = len(messages)
        if count == 1:
            text = "the customer sent a new message since you opened this ticket"
        else:
            text = f"the customer sent {count} new messages since you opened this ticket"
        super().__init__(f"{text}; read it and confirm to send your reply anyway")
        self.messages = messages


@dataclass(frozen=True)
class OutboundSettings:
    """Sender details for replies, taken from the app config at the entry point."""

    mail_from_address: str = "support@example.org"
    mail_from_name: str = "Klantenservice"
    message_id_domain: str = "tickets.example.org"

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> OutboundSettings:
        return cls(
            mail_from_address=config["MAIL_FROM_ADDRESS"],
            mail_from_name=config["MAIL_FROM_NAME"],
            message_id_domain=config["MAIL_MESSAGE_ID_DOMAIN"],
        )


# --- replies ------------------------------------------------------------------------------------


def channel_for(identity: CustomerIdentity) -> Channel:
    """A reply to an e-mail address goes by mail, one to a phone number by text."""
    return Channel.email if identity.kind == IdentityKind.email.value else Channel.sms


def default_reply_identity(ticket: Ticket) -> CustomerIdentity | None:
    """The address the customer last wrote from on this ticket, else their first address.

    Web-form messages carry the e-mail address the customer gave, so those are answered by mail.
    """
    last_used = db.session.scalar(
        sa.select(CustomerIdentity)
        .join(Message, Message.identity_id == CustomerIdentity.id)
        .where(
            Message.ticket_id == ticket.id,
            Message.direction == Direction.inbound,
            Message.is_automatic.is_(False),
            CustomerIdentity.customer_id == ticket.customer_id,
        )
        .order_by(Message.created_at.desc(), Message.id.desc())
        .limit(1)
    )
    if last_used is not None:
        return last_used
    identities = sorted(
        ticket.customer.identities, key=lambda row: (row.kind != IdentityKind.email.value, row.id)
    )
    return identities[0] if identities else None


def newer_customer_messages(ticket: Ticket, seen_message_id: int | None) -> list[Message]:
    """Customer messages on the ticket newer than the last one the agent saw."""
    query = (
        sa.select(Message)
        .where(
            Message.ticket_id == ticket.id,
            Message.direction == Direction.inbound,
            Message.is_automatic.is_(False),
        )
        .order_by(Message.id)
    )
    if seen_message_id is not None:
        query = query.where(Message.id > seen_message_id)
    return list(db.session.scalars(query))


def last_customer_message_id(ticket: Ticket) -> int | None:
    """The id a page shows as "seen": the newest customer message on the ticket."""
    return db.session.scalar(
        sa.select(sa.func.max(Message.id)).where(
            Message.ticket_id == ticket.id,
            Message.direction == Direction.inbound,
            Message.is_automatic.is_(False),
        )
    )


def reply(
    ticket: Ticket,
    text: str,
    *,
    actor: User,
    now: datetime,
    settings: OutboundSettings,
    identity: CustomerIdentity | None = None,
    status_after: TicketStatus | None = None,
    seen_message_id: int | None = None,
    confirmed: bool = False,
) -> Message:
    """Answer the customer through one of their addresses, queued in the outbox.

    The message and its outbox row are written in the caller's transaction; the caller kicks
    the outbox after commit. A reply to an unassigned ticket assigns it to the replying agent.

    `identity` is the address to answer (default: the one the customer last wrote from).
    `status_after` is the status to set with the reply (open, pending, on hold, solved); without
    it a new ticket becomes open and any other keeps its status. `seen_message_id` is the newest
    customer message the agent had on screen; unless `confirmed`, a newer one stops the reply.

    Raises:
        NewerMessagesError: the customer wrote again and the agent has not confirmed.
        ActionError: the reply cannot be sent (empty, merged ticket, opted-out number, ...).
    """
    text = _clean_text(text)
    if not text.strip():
        raise ActionError("the reply is empty")
    _ensure_not_merged(ticket)
    if status_after is not None and status_after not in REPLY_STATUSES:
        raise ActionError(f"a reply cannot set the status to {status_after.value}")
    identity = identity or default_reply_identity(ticket)
    if identity is None:
        raise ActionError("this customer has no e-mail address or phone number to reply to")
    if identity.customer_id != ticket.customer_id:
        raise ActionError("that address does not belong to this ticket's customer")
    if seen_message_id is not None and not confirmed:
        newer = newer_customer_messages(ticket, seen_message_id)
        if newer:
            raise NewerMessagesError(newer)

    channel = channel_for(identity)
    segments: SegmentInfo | None = None
    if channel == Channel.sms:
        try:
            outbound = prepare_sms_reply(ticket, text, identity=identity)
        except SmsRefused as refusal:
            raise ActionError(str(refusal)) from refusal
        segments = sms_segments(text)
        message = _outbound_message(ticket, Channel.sms, identity, actor, text, now)
    else:
        message = _outbound_message(ticket, Channel.email, identity, actor, text, now)
        outbound = _email_reply(ticket, message, identity, text, settings)
        message.subject = outbound.subject
        message.rfc_message_id = outbound.message_id
        message.meta = {
            "in_reply_to": outbound.in_reply_to,
            "references": list(outbound.references),
        }
    db.session.flush()
    outbox.enqueue(outbound, now=now, purpose="reply", ticket=ticket, message=message)
    record_event(
        ticket,
        "reply.sent",
        now=now,
        actor=actor,
        message=message,
        channel=channel.value,
        to=identity.address,
        segments=segments.segments if segments is not None else None,
    )
    ticket.last_agent_reply_at = now
    if ticket.first_responded_at is None:
        ticket.first_responded_at = now
    if ticket.assignee_id is None:
        _assign(ticket, actor, ticket.team or actor.team, actor=actor, now=now,
                reason="replied to an unassigned ticket")
    if status_after is not None:
        change_status(ticket, status_after, now=now, actor=actor, reason="set with the reply")
    elif ticket.status == TicketStatus.new:
        change_status(ticket, TicketStatus.open, now=now, actor=actor, reason="first reply")
    ticket_changed(ticket, now=now, trigger="reply.sent")
    return message


def _clean_text(text: str) -> str:
    # Browsers post CRLF; store what the customer will see, without trailing blank lines.
    return (text or "").replace("\r\n", "\n").replace("\r", "\n").rstrip()


def _ensure_not_merged(ticket: Ticket) -> None:
    if ticket.merged_into_id is not None:
        raise ActionError(f"this ticket was merged into T-{ticket.merged_into_id}; work there")


def _outbound_message(
    ticket: Ticket,
    channel: Channel,
    identity: CustomerIdentity,
    actor: User,
    text: str,
    now: datetime,
) -> Message:
    message = Message(
        ticket=ticket,
        direction=Direction.outbound,
        channel=channel.value,
        kind="message",
        author=actor,
        identity=identity,
        text=text,
        new_text=text,
        language=ticket.language,
        created_at=now,
        delivery_state=DeliveryState.queued,
        delivery_updated_at=now,
        meta={},
    )
    db.session.add(message)
    return message


def _email_reply(
    ticket: Ticket,
    message: Message,
    identity: CustomerIdentity,
    text: str,
    settings: OutboundSettings,
) -> OutboundMessage:
    """Thread the reply under the customer's last mail and tag the subject with the reference."""
    thread = list(
        db.session.execute(
            sa.select(Message.rfc_message_id, Message.direction)
            .where(
                Message.ticket_id == ticket.id,
                Message.channel == Channel.email.value,
                Message.rfc_message_id.is_not(None),
                Message.direction != Direction.note,
            )
            .order_by(Message.created_at, Message.id)
        )
    )
    inbound_ids = [rfc_id for rfc_id, direction in thread if direction == Direction.inbound]
    in_reply_to = inbound_ids[-1] if inbound_ids else None
    references: list[str] = []
    for rfc_id, _direction in thread:
        if rfc_id not in references:
            references.append(rfc_id)
    if in_reply_to is not None:
        # In-Reply-To must end the chain even when our own later mail came after it.
        references = [rfc_id for rfc_id in references if rfc_id != in_reply_to] + [in_reply_to]
    if len(references) > MAX_REFERENCES:
        # Keep the first (the thread's root) and the most recent, as RFC 5322 suggests.
        references = references[:1] + references[-(MAX_REFERENCES - 1):]
    return OutboundMessage(
        channel=Channel.email,
        to=Identity(IdentityKind.email, identity.address, ticket.customer.name),
        text=text,
        subject=reply_subject(ticket),
        from_address=settings.mail_from_address,
        from_name=settings.mail_from_name,
        message_id=new_message_id(ticket, settings.message_id_domain),
        in_reply_to=in_reply_to,
        references=tuple(references),
        ticket_ref=ticket.reference,
    )


def reply_subject(ticket: Ticket) -> str:
    """"Re: <subject> [T-1042]": the tag lets intake thread the answer even without headers."""
    subject = (ticket.subject or "").strip() or ticket.reference
    if not re.match(r"^\s*(re|aw|antw)\s*:", subject, re.IGNORECASE):
        subject = f"Re: {subject}"
    tag = f"[{ticket.reference}]"
    if not re.search(rf"\b{re.escape(ticket.reference)}\b", subject, re.IGNORECASE):
        subject = f"{subject} {tag}"
    return subject[:300]


# --- notes, assignment, status, priority, tags --------------------------------------------------


def add_note(ticket: Ticket, text: str, *, actor: User, now: datetime) -> Message:
    """Add an internal note: visible to colleagues, never to the customer, no SLA effect."""
    text = _clean_text(text)
    if not text.strip():
        raise ActionError("the note is empty")
    note = Message(
        ticket=ticket,
        direction=Direction.note,
        channel=ticket.channel,
        kind="message",
        author=actor,
        text=text,
        new_text=text,
        created_at=now,
        meta={},
    )
    db.session.add(note)
    db.session.flush()
    record_event(ticket, "note.added", now=now, actor=actor, message=note)
    ticket_changed(ticket, now=now, trigger="note.added")
    return note


def assign(
    ticket: Ticket,
    *,
    assignee: User | None,
    team: Team | None,
    actor: User,
    now: datetime,
) -> bool:
    """Give the ticket to an agent and/or a team (None clears); return whether anything changed."""
    if assignee is not None and (not assignee.is_active_account or not assignee.has_role(
        Role.agent
    )):
        raise ActionError(f"{assignee.name} cannot take tickets")
    changed = _assign(ticket, assignee, team, actor=actor, now=now)
    if changed:
        ticket_changed(ticket, now=now, trigger="assignment.changed")
    return changed


def claim(ticket: Ticket, *, actor: User, now: datetime) -> bool:
    """Assign the ticket to the acting agent (keeping its team, else taking the agent's)."""
    return assign(ticket, assignee=actor, team=ticket.team or actor.team, actor=actor, now=now)


def _assign(
    ticket: Ticket,
    assignee: User | None,
    team: Team | None,
    *,
    actor: User,
    now: datetime,
    reason: str | None = None,
) -> bool:
    old_assignee, old_team = ticket.assignee, ticket.team
    if old_assignee is assignee and old_team is team:
        return False
    ticket.assignee = assignee
    ticket.team = team
    record_event(
        ticket,
        "assignment.changed",
        now=now,
        actor=actor,
        old_assignee=old_assignee.name if old_assignee else None,
        old_assignee_id=old_assignee.id if old_assignee else None,
        assignee=assignee.name if assignee else None,
        assignee_id=assignee.id if assignee else None,
        old_team=old_team.name if old_team else None,
        team=team.name if team else None,
        reason=reason,
    )
    return True


def set_status(ticket: Ticket, status: TicketStatus, *, actor: User, now: datetime) -> bool:
    """Change the status (solving stops the clocks; pending pauses resolution)."""
    _ensure_not_merged(ticket)
    changed = change_status(ticket, status, now=now, actor=actor)
    if changed:
        ticket_changed(ticket, now=now, trigger="status.changed")
    return changed


def set_priority(ticket: Ticket, priority: Priority, *, actor: User, now: datetime) -> bool:
    """Change the priority; running clocks are re-targeted from their start."""
    changed = change_priority(ticket, priority, now=now, actor=actor)
    if changed:
        ticket_changed(ticket, now=now, trigger="priority.changed")
    return changed


def normalise_tags(names: Iterable[str]) -> list[str]:
    """Lower-case, spaces to dashes, only [a-z0-9_:.-], without duplicates, in given order."""
    result: list[str] = []
    for name in names:
        tag = _TAG_RE.sub("-", name.strip().lower().replace(" ", "-")).strip("-")
        tag = tag[:_MAX_TAG_LENGTH]
        if tag and tag not in result:
            result.append(tag)
    return result


def parse_tags(text: str) -> list[str]:
    """Split what an agent typed ("billing, urgent refund") into tag names."""
    return normalise_tags(part for part in re.split(r"[,;\n]+", text or "") if part.strip())


def set_tags(ticket: Ticket, names: Iterable[str], *, actor: User, now: datetime) -> bool:
    """Replace the ticket's tags; unknown tags are created. Return whether anything changed."""
    wanted = normalise_tags(names)
    current = {tag.name for tag in ticket.tags}
    if set(wanted) == current:
        return False
    tags = [get_or_create_tag(name) for name in wanted]
    ticket.tags = sorted(tags, key=lambda tag: tag.name)
    record_event(
        ticket,
        "tags.changed",
        now=now,
        actor=actor,
        added=sorted(set(wanted) - current) or None,
        removed=sorted(current - set(wanted)) or None,
    )
    ticket_changed(ticket, now=now, trigger="tags.changed")
    return True


# --- merge, repeat links, split -----------------------------------------------------------------


def merge_tickets(source: Ticket, target: Ticket, *, actor: User, now: datetime) -> Ticket:
    """Merge `source` into `target`; return the surviving ticket (`target`).

    History is kept: the source's messages move to the target, the source keeps its own event
    log and is closed with `merged_into` set, so intake routes later replies to the target. The
    customer messages and replies of the source are also recorded on the target at their
    original instants, so the target's SLA clocks are recomputed as if the conversation had
    been one ticket from the start.

    Raises:
        ActionError: same ticket, already merged, or tickets of different customers.
    """
    if source.id == target.id:
        raise ActionError("a ticket cannot be merged into itself")
    if source.merged_into_id is not None:
        raise ActionError(f"{source.reference} was already merged into T-{source.merged_into_id}")
    if target.merged_into_id is not None:
        raise ActionError(
            f"{target.reference} was merged into T-{target.merged_into_id}; merge into that one"
        )
    if source.customer_id != target.customer_id:
        # Intake only threads a reply onto a ticket of the sender's own customer, so a merge
        # across customers would quietly split the conversation again.
        raise ActionError(
            f"{source.reference} and {target.reference} belong to different customers"
        )

    moved = db.session.execute(
        sa.update(Message)
        .where(Message.ticket_id == source.id)
        .values(ticket_id=target.id)
        .execution_options(synchronize_session="fetch")
    ).rowcount
    for event in db.session.scalars(
        sa.select(TicketEvent)
        .where(TicketEvent.ticket_id == source.id, TicketEvent.type.in_(_SLA_EVENT_TYPES))
        .order_by(TicketEvent.at, TicketEvent.id)
    ):
        db.session.add(
            TicketEvent(
                ticket_id=target.id,
                at=event.at,
                type=event.type,
                actor_id=event.actor_id,
                message_id=event.message_id,
                data={**(event.data or {}), "merged_from": source.reference},
            )
        )
    db.session.execute(
        sa.update(TrackingToken)
        .where(TrackingToken.ticket_id == source.id)
        .values(ticket_id=target.id)
        .execution_options(synchronize_session=False)
    )
    db.session.execute(
        sa.delete(TicketPresence)
        .where(TicketPresence.ticket_id == source.id)
        .execution_options(synchronize_session=False)
    )

    target.contact_count += source.contact_count
    target.repeat_contacts += source.repeat_contacts
    target.again_mentions += source.again_mentions
    target.last_customer_message_at = _latest(
        target.last_customer_message_at, source.last_customer_message_at
    )
    target.last_agent_reply_at = _latest(target.last_agent_reply_at, source.last_agent_reply_at)
    if source.first_responded_at is not None and (
        target.first_responded_at is None or source.first_responded_at < target.first_responded_at
    ):
        target.first_responded_at = source.first_responded_at
    target.tags = sorted({*target.tags, *source.tags}, key=lambda tag: tag.name)
    if target.status in (TicketStatus.solved, TicketStatus.closed) and source.is_open:
        change_status(target, TicketStatus.open, now=now, actor=actor,
                      reason=f"{source.reference} was merged into it")

    source.merged_into_id = target.id
    record_event(source, "ticket.merged", now=now, actor=actor, into=target.reference,
                 moved_messages=moved)
    record_event(target, "ticket.merged", now=now, actor=actor, merged_from=source.reference,
                 moved_messages=moved)
    change_status(source, TicketStatus.closed, now=now, actor=actor,
                  reason=f"merged into {target.reference}")
    db.session.flush()
    db.session.expire(source, ["messages", "events"])
    db.session.expire(target, ["messages", "events"])
    ticket_changed(source, now=now, trigger="ticket.merged")
    ticket_changed(target, now=now, trigger="ticket.merged")
    return target


def _latest(first: datetime | None, second: datetime | None) -> datetime | None:
    if first is None:
        return second
    if second is None:
        return first
    return max(first, second)


def link_as_repeat(ticket: Ticket, earlier: Ticket, *, actor: User, now: datetime) -> bool:
    """Record that `ticket` is the customer coming back about `earlier`; return whether new.

    Raises:
        ActionError: a self-link, a link to a newer ticket, or one that would make a loop.
    """
    if ticket.id == earlier.id:
        raise ActionError("a ticket cannot be a repeat of itself")
    if ticket.repeat_of_id == earlier.id:
        return False
    if earlier.opened_at > ticket.opened_at:
        raise ActionError(
            f"{earlier.reference} is newer than {ticket.reference}; link the newer ticket as "
            "the repeat"
        )
    seen = {ticket.id}
    cursor: Ticket | None = earlier
    for _ in range(50):
        if cursor is None:
            break
        if cursor.id in seen:
            raise ActionError("that link would make a loop of repeats")
        seen.add(cursor.id)
        cursor = cursor.repeat_of
    previous = ticket.repeat_of
    ticket.repeat_of_id = earlier.id
    ticket.repeat_of = earlier
    ticket.repeat_contacts += 1
    record_event(
        ticket,
        "repeat.linked",
        now=now,
        actor=actor,
        prior=earlier.reference,
        replaced=previous.reference if previous is not None else None,
    )
    record_event(earlier, "repeat.referenced", now=now, actor=actor, later=ticket.reference)
    ticket_changed(ticket, now=now, trigger="repeat.linked")
    return True


def split_message(
    message: Message, *, actor: User, now: datetime, subject: str | None = None
) -> Ticket:
    """Move one customer message to a new ticket of the same customer; return the new ticket.

    The new ticket starts at the message's own instant, so its first-response clock counts from
    when the customer wrote.

    Raises:
        ActionError: not a customer message, or the only message of its ticket.
    """
    source = message.ticket
    _ensure_not_merged(source)
    if message.direction != Direction.inbound or message.is_automatic:
        raise ActionError("only a customer's own message can be split into a new ticket")
    remaining = db.session.scalar(
        sa.select(sa.func.count(Message.id)).where(
            Message.ticket_id == source.id,
            Message.direction == Direction.inbound,
            Message.is_automatic.is_(False),
            Message.id != message.id,
        )
    )
    if not remaining:
        raise ActionError("this is the ticket's only customer message; nothing to split off")
    title = (subject or "").strip() or (message.subject or "").strip() or _first_line(
        message.new_text or message.text
    ) or source.subject
    new_ticket = Ticket(
        customer_id=source.customer_id,
        subject=title[:300],
        status=TicketStatus.open,
        priority=source.priority,
        channel=message.channel,
        team_id=source.team_id,
        language=message.language or source.language,
        opened_at=message.created_at,
        updated_at=now,
        last_customer_message_at=message.created_at,
        contact_count=1,
        again_mentions=1 if message.again_cues else 0,
    )
    db.session.add(new_ticket)
    db.session.flush()
    message.ticket = new_ticket
    record_event(new_ticket, "ticket.created", now=now, actor=actor, channel=message.channel,
                 split_from=source.reference)
    new_event = record_event(new_ticket, "message.received", now=now, actor=None, message=message,
                             channel=message.channel, split_from=source.reference)
    new_event.at = message.created_at  # the SLA replay must see when the customer wrote
    new_ticket.updated_at = now
    record_event(source, "message.split", now=now, actor=actor, message=message,
                 to=new_ticket.reference)
    source.contact_count = max(source.contact_count - 1, 0)
    if message.again_cues:
        source.again_mentions = max(source.again_mentions - 1, 0)
    source.last_customer_message_at = db.session.scalar(
        sa.select(sa.func.max(Message.created_at)).where(
            Message.ticket_id == source.id,
            Message.direction == Direction.inbound,
            Message.id != message.id,
        )
    )
    db.session.flush()
    db.session.expire(source, ["messages"])
    ticket_changed(source, now=now, trigger="message.split")
    ticket_changed(new_ticket, now=now, trigger="ticket.created")
    return new_ticket


def _first_line(text: str) -> str:
    line = next((line.strip() for line in (text or "").splitlines() if line.strip()), "")
    return line[:80]


# --- presence (collision detection) -------------------------------------------------------------


@dataclass(frozen=True)
class Viewer:
    """Someone else who has the ticket open."""

    user_id: int
    name: str
    is_replying: bool
    last_seen_at: datetime


def update_presence(
    ticket: Ticket, *, actor: User, now: datetime, is_replying: bool = False
) -> None:
    """Note that `actor` has the ticket open (and whether they are typing a reply)."""
    row = db.session.get(TicketPresence, (ticket.id, actor.id))
    if row is not None:
        row.last_seen_at = now
        row.is_replying = is_replying
        return
    try:
        with db.session.begin_nested():
            db.session.add(TicketPresence(ticket_id=ticket.id, user_id=actor.id,
                                          last_seen_at=now, is_replying=is_replying))
    except IntegrityError:
        # The same agent's other tab polled at the same moment.
        row = db.session.get(TicketPresence, (ticket.id, actor.id))
        if row is not None:
            row.last_seen_at = now
            row.is_replying = is_replying


def leave_ticket(ticket: Ticket, *, actor: User, now: datetime) -> None:
    """Forget that `actor` has the ticket open (the page was closed)."""
    del now  # part of the action signature; leaving has no timestamp to keep
    db.session.execute(
        sa.delete(TicketPresence)
        .where(TicketPresence.ticket_id == ticket.id, TicketPresence.user_id == actor.id)
        .execution_options(synchronize_session=False)
    )


def other_viewers(ticket: Ticket, *, actor: User, now: datetime) -> list[Viewer]:
    """Colleagues who polled this ticket within the presence window, repliers first."""
    rows = db.session.execute(
        sa.select(TicketPresence, User.name)
        .join(User, User.id == TicketPresence.user_id)
        .where(
            TicketPresence.ticket_id == ticket.id,
            TicketPresence.user_id != actor.id,
            TicketPresence.last_seen_at >= now - PRESENCE_WINDOW,
        )
        .order_by(TicketPresence.is_replying.desc(), User.name)
    )
    return [
        Viewer(presence.user_id, name, presence.is_replying, presence.last_seen_at)
        for presence, name in rows
    ]
