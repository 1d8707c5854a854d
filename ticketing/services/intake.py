"""Intake: turn a Contact into a message on the right ticket, idempotently, with its reasons."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from ticketing.domain.again import find_again_cues
from ticketing.domain.contact import (
    Channel,
    Contact,
    ContactKind,
    Identity,
    IdentityKind,
    OutboundMessage,
)
from ticketing.domain.repeat import PriorTicket, RepeatAction, RepeatWindows, decide_repeat
from ticketing.extensions import db
from ticketing.models import (
    Attachment,
    Customer,
    CustomerIdentity,
    DeliveryState,
    Direction,
    InboundRecord,
    Message,
    MessageReference,
    Ticket,
    TicketStatus,
)
from ticketing.services import intake_cache, outbox, texts
from ticketing.services.attachments import AttachmentStore
from ticketing.services.customers import CustomerMatch, find_or_create_customer, set_opt_out
from ticketing.services.events import record_event
from ticketing.services.intake_cache import UNKNOWN, IntakeCache
from ticketing.services.tickets import change_status, ticket_changed
from ticketing.services.tracking import issue_tracking_token

log = logging.getLogger(__name__)

#: statuses a customer message takes back to "open"
_WAITING = (TicketStatus.pending, TicketStatus.on_hold)
_CLOSED = (TicketStatus.solved, TicketStatus.closed)


@dataclass(frozen=True)
class IntakeSettings:
    """The settings intake needs, taken from the app config at the entry point."""

    look_back: timedelta = timedelta(days=30)
    reopen_window: timedelta = timedelta(days=7)
    acknowledge_email: bool = True
    acknowledge_sms: bool = False
    #: web-form complaints are always acknowledged: the customer waits for a reference
    acknowledge_web: bool = True
    ack_cap_per_sender: int = 3
    organisation_name: str = "Klantenservice"
    default_language: str = "nl"
    mail_from_address: str = "support@example.org"
    mail_from_name: str = "Klantenservice"
    message_id_domain: str = "tickets.example.org"
    public_base_url: str | None = None
    tracking_valid_for: timedelta | None = timedelta(days=180)
    attachment_root: str | None = None

    @classmethod
    def from_config(cls, config: Any) -> IntakeSettings:
        return cls(
            look_back=timedelta(days=config["REPEAT_LOOKBACK_DAYS"]),
            reopen_window=timedelta(days=config["REOPEN_WINDOW_DAYS"]),
            acknowledge_email=config["EMAIL_ACKNOWLEDGEMENT"],
            acknowledge_sms=config["SMS_ACKNOWLEDGEMENT"],
            ack_cap_per_sender=config["ACK_CAP_PER_SENDER"],
            organisation_name=config["ORGANISATION_NAME"],
            default_language=config["BABEL_DEFAULT_LOCALE"],
            mail_from_address=config["MAIL_FROM_ADDRESS"],
            mail_from_name=config["MAIL_FROM_NAME"],
            message_id_domain=config["MAIL_MESSAGE_ID_DOMAIN"],
            public_base_url=config["PUBLIC_BASE_URL"],
            tracking_valid_for=(
                timedelta(days=config["TRACKING_LINK_DAYS"])
                if config["TRACKING_LINK_DAYS"]
                else None
            ),
            attachment_root=config["ATTACHMENT_STORAGE_PATH"],
        )


@dataclass
class IntakeResult:
    """What intake did with one contact."""

    #: created, appended, duplicate, auto_reply, bounce, opt_out, opt_in, help
    outcome: str
    ticket: Ticket | None = None
    message: Message | None = None
    #: the decision in words: threading, repeat rule, why nothing was created
    reason: str = ""
    #: set for a new ticket: the secret of its tracking link (only ever shown, never stored)
    tracking_token: str | None = None
    notes: list[str] = field(default_factory=list)


def receive_contact(
    contact: Contact,
    *,
    now: datetime,
    settings: IntakeSettings,
    inbound: InboundRecord | None = None,
    own_savepoint: bool = True,
) -> IntakeResult:
    """Record one inbound contact on the right ticket.

    Redelivery is a no-op (the unique (channel, external id) decides, also when two copies race:
    the loser's savepoint rolls back and it reports a duplicate). A caller that already runs
    this in a savepoint of its own and retries a conflict (`pipeline.process_batch`) passes
    `own_savepoint=False`, and then gets the IntegrityError.
    """
    existing = _find_message(contact.channel.value, contact.external_id, cached=True)
    if existing is not None:
        return IntakeResult("duplicate", existing.ticket, existing, "already received")
    if not own_savepoint:
        return _receive(contact, now=now, settings=settings, inbound=inbound)
    try:
        with db.session.begin_nested():
            result = _receive(contact, now=now, settings=settings, inbound=inbound)
    except IntegrityError:
        existing = _find_message(contact.channel.value, contact.external_id)
        if existing is None:
            raise
        return IntakeResult("duplicate", existing.ticket, existing, "received concurrently")
    return result


def _find_message(channel: str, external_id: str, *, cached: bool = False) -> Message | None:
    found = intake_cache.ask(IntakeCache.message, channel, external_id) if cached else UNKNOWN
    if found is not UNKNOWN:
        return found
    return db.session.scalar(
        sa.select(Message).where(Message.channel == channel, Message.external_id == external_id)
    )


def _receive(
    contact: Contact, *, now: datetime, settings: IntakeSettings, inbound: InboundRecord | None
) -> IntakeResult:
    if contact.kind == ContactKind.bounce:
        return _receive_bounce(contact, now=now, inbound=inbound)
    if contact.kind == ContactKind.auto_reply:
        return _receive_auto_reply(contact, now=now, inbound=inbound)

    match = find_or_create_customer(contact.sender, contact.other_identities, now=now)
    if contact.kind in (ContactKind.opt_out, ContactKind.opt_in, ContactKind.help):
        return _receive_keyword(contact, match, now=now, inbound=inbound)

    ticket, outcome, reason, is_repeat, prior = _choose_ticket(contact, match, now, settings)
    cues = find_again_cues(contact.new_text or contact.text, contact.language)
    created = ticket is None
    if ticket is None:
        ticket = _open_ticket(contact, match, now=now, repeat_of=prior)
    message = _add_inbound_message(ticket, contact, match.identity, inbound, cues, now, settings)
    cache = intake_cache.active()
    if cache is not None:
        if created:
            cache.opened_ticket(ticket, message.new_text)
        else:
            cache.touched_ticket(ticket)

    ticket.contact_count += 1
    if cues:
        ticket.again_mentions += 1
        if not is_repeat:
            is_repeat = True
            reason = f"{reason}; the customer says so ('{cues[0].match}')".lstrip("; ")
    if is_repeat:
        ticket.repeat_contacts += 1
        record_event(
            ticket,
            "repeat.detected",
            now=now,
            message=message,
            reason=reason,
            prior=f"T-{_written(prior).id}" if prior is not None else None,
            cues=[cue.match for cue in cues] or None,
            channel=contact.channel.value,
        )
    if not created:
        if ticket.status in _CLOSED:
            change_status(ticket, TicketStatus.open, now=now, reason="the customer wrote again")
        elif ticket.status in _WAITING:
            change_status(ticket, TicketStatus.open, now=now, reason="the customer replied")
    for note in match.notes:
        record_event(ticket, "customer.linked", now=now, note=note)

    result = IntakeResult("created" if created else "appended", ticket, message, reason)
    if created:
        result.tracking_token = issue_tracking_token(
            ticket, now=now, valid_for=settings.tracking_valid_for
        )
        _acknowledge(ticket, contact, match, message, result.tracking_token, now, settings)
    ticket_changed(ticket, now=now, trigger="message.received")
    return result


def _choose_ticket(
    contact: Contact, match: CustomerMatch, now: datetime, settings: IntakeSettings
) -> tuple[Ticket | None, str, str, bool, Ticket | None]:
    """Decide where the contact goes: (ticket or None for new, outcome, reason, repeat, prior)."""
    threaded, thread_reason = _thread_target(contact, match)
    if threaded is not None:
        if not _belongs_to(threaded, match.customer):
            # Someone else answered in a thread: never add a stranger to a customer's ticket.
            reason = (
                f"{thread_reason}, but {contact.sender.address} is not an address of that "
                "ticket's customer; new ticket linked for review"
            )
            return None, "created", reason, False, threaded
        if threaded.is_open:
            awaiting_us = _awaiting_our_reply(threaded)
            reason = thread_reason + (
                "; the customer wrote again before we answered" if awaiting_us else ""
            )
            return threaded, "appended", reason, awaiting_us, None
        if threaded.solved_at is not None and now - threaded.solved_at <= settings.reopen_window:
            reason = f"{thread_reason}; reopened (solved within the reopen window)"
            return threaded, "appended", reason, True, None
        reason = f"{thread_reason}; that ticket is closed, so a new ticket follows it up"
        return None, "created", reason, True, threaded

    candidates = _prior_tickets(match, now, settings)
    decision = decide_repeat(
        contact.new_text or contact.text,
        contact.subject,
        now,
        [prior for prior, _ticket in candidates],
        RepeatWindows(look_back=settings.look_back, reopen=settings.reopen_window),
    )
    prior = next(
        (ticket for candidate, ticket in candidates if candidate.ticket_id == decision.ticket_id),
        None,
    ) if decision.ticket_id else None
    if decision.action == RepeatAction.append and prior is not None:
        return prior, "appended", decision.reason, True, None
    if decision.action == RepeatAction.reopen and prior is not None:
        return prior, "appended", decision.reason, True, None
    if decision.action == RepeatAction.new_linked and prior is not None:
        return None, "created", decision.reason, True, prior
    return None, "created", decision.reason, False, None


def _belongs_to(ticket: Ticket, customer: Customer) -> bool:
    if ticket.customer_id is not None and customer.id is not None:
        return ticket.customer_id == customer.id
    # One of them is new in this batch and not written yet: compare the objects.
    return ticket.customer is customer


def _written(row: Any) -> Any:
    """The row with its id: drawn now, or written first (a batch writes at its end)."""
    if row.id is None:
        cache = intake_cache.active()
        if cache is None or not cache.give_ids(type(row)):
            _flush()
    return row


def _flush() -> None:
    cache = intake_cache.active()
    if cache is not None:
        cache.flush()
    else:
        db.session.flush()


def _thread_target(contact: Contact, match: CustomerMatch) -> tuple[Ticket | None, str]:
    """Find the ticket the contact explicitly continues: mail headers, subject tag, SMS, web."""
    hints = contact.thread
    if contact.channel == Channel.email:
        candidate_ids = [*hints.in_reply_to, *reversed(hints.references)]
        if candidate_ids:
            found = _ticket_by_message_ids(candidate_ids)
            if found is not None:
                return _surviving(found), "reply to an earlier message in the thread"
        if hints.message_id:
            # A reply read before this original opened a ticket: join it (date-order repair).
            waiting = _reply_waiting_for(hints.message_id)
            if waiting is not None:
                return _surviving(waiting.ticket), "original of a reply that arrived first"
    if hints.subject_ticket_ref:
        ticket_id = Ticket.id_from_reference(hints.subject_ticket_ref)
        ticket = _ticket_by_id(ticket_id) if ticket_id else None
        if ticket is not None:
            return _surviving(ticket), f"ticket tag {hints.subject_ticket_ref} in the subject"
    ticket_id = contact.metadata.get("ticket_id") if contact.channel == Channel.web else None
    if ticket_id:
        ticket = db.session.get(Ticket, int(ticket_id))
        if ticket is not None:
            return _surviving(ticket), "reply on the tracking page"
    if contact.channel == Channel.sms:
        ticket = _latest_sms_ticket(match.identity)
        if ticket is not None:
            return _surviving(ticket), f"text from {match.identity.address}, which has a ticket"
    return None, ""


def _reply_waiting_for(rfc_message_id: str) -> Message | None:
    found = intake_cache.ask(IntakeCache.referencing, rfc_message_id)
    if found is not UNKNOWN:
        return found
    return db.session.scalar(
        sa.select(Message)
        .join(MessageReference, MessageReference.message_id == Message.id)
        .where(MessageReference.rfc_message_id == rfc_message_id)
        .limit(1)
    )


def _ticket_by_id(ticket_id: int) -> Ticket | None:
    found = intake_cache.ask(IntakeCache.ticket, ticket_id)
    return db.session.get(Ticket, ticket_id) if found is UNKNOWN else found


def _ticket_by_message_ids(message_ids: Iterable[str]) -> Ticket | None:
    ids = [mid for mid in message_ids if mid][:50]
    if not ids:
        return None
    message = intake_cache.ask(IntakeCache.latest_message, ids)
    if message is UNKNOWN:
        message = db.session.scalar(
            sa.select(Message)
            .where(Message.rfc_message_id.in_(ids))
            .order_by(Message.created_at.desc())
            .limit(1)
        )
    return message.ticket if message is not None else None


def _surviving(ticket: Ticket) -> Ticket:
    """Follow merges to the ticket that lives on (bounded, in case of a cycle)."""
    for _ in range(20):
        if ticket.merged_into_id is None:
            break
        ticket = db.session.get(Ticket, ticket.merged_into_id) or ticket
    return ticket


def _latest_sms_ticket(identity: CustomerIdentity) -> Ticket | None:
    """The most recent ticket this phone number wrote on: open ones first."""
    query = (
        sa.select(Ticket)
        .join(Message, Message.ticket_id == Ticket.id)
        .where(Message.identity_id == _written(identity).id, Ticket.merged_into_id.is_(None))
        .order_by(
            sa.case((Ticket.status.in_(_CLOSED), 1), else_=0),
            Ticket.updated_at.desc(),
        )
        .limit(1)
    )
    return db.session.scalar(query)


def _awaiting_our_reply(ticket: Ticket) -> bool:
    if ticket.last_customer_message_at is None:
        return False
    return ticket.last_agent_reply_at is None or (
        ticket.last_customer_message_at > ticket.last_agent_reply_at
    )


def _prior_tickets(
    match: CustomerMatch, now: datetime, settings: IntakeSettings
) -> list[tuple[PriorTicket, Ticket]]:
    """The customer's open and recent tickets, for the repeat rules, with their rows."""
    if match.is_new_customer:
        return []
    held = intake_cache.ask(IntakeCache.prior_tickets, match.customer, now=now,
                            limit=_PRIOR_LIMIT)
    if held is not UNKNOWN:
        # Their ids are their references, which the reasons quote.
        for ticket, _first in held:
            _written(ticket)
        return [(_prior(ticket, first), ticket) for ticket, first in held]
    since = now - settings.look_back
    rows = db.session.execute(
        sa.select(Ticket, intake_cache.first_inbound_words())
        .where(
            Ticket.customer_id == match.customer.id,
            Ticket.merged_into_id.is_(None),
            sa.or_(Ticket.status.not_in(_CLOSED), Ticket.updated_at >= since),
        )
        .order_by(Ticket.updated_at.desc())
        .limit(_PRIOR_LIMIT)
    ).all()
    return [(_prior(ticket, first or ""), ticket) for ticket, first in rows]


#: how many of a customer's recent tickets the repeat rules compare a contact with
_PRIOR_LIMIT = 20


def _prior(ticket: Ticket, first_words: str) -> PriorTicket:
    return PriorTicket(
        ticket_id=ticket.id,
        reference=ticket.reference,
        status=ticket.status.value,
        opened_at=ticket.opened_at,
        solved_at=ticket.solved_at,
        last_activity_at=ticket.updated_at,
        subject=ticket.subject,
        text=first_words,
    )


def _open_ticket(
    contact: Contact, match: CustomerMatch, *, now: datetime, repeat_of: Ticket | None
) -> Ticket:
    subject = (contact.subject or "").strip()
    subject = subject or _subject_from_text(contact.new_text or contact.text)
    ticket = Ticket(
        customer=match.customer,
        subject=subject[:300],
        status=TicketStatus.new,
        channel=contact.channel.value,
        language=contact.language,
        opened_at=now,
        updated_at=now,
        # The id, not the relationship: a flush orders rows that refer to each other by their
        # references, which would number new tickets out of their opening order.
        repeat_of_id=_written(repeat_of).id if repeat_of is not None else None,
        # Set here rather than by the column defaults, which only apply when it is written.
        contact_count=0,
        repeat_contacts=0,
        again_mentions=0,
    )
    # No flush here: the ticket is written with its first message (or with the whole batch).
    db.session.add(ticket)
    record_event(
        ticket,
        "ticket.created",
        now=now,
        channel=contact.channel.value,
        repeat_of=f"T-{repeat_of.id}" if repeat_of is not None else None,
    )
    if match.customer.language is None and contact.language:
        match.customer.language = contact.language
    return ticket


def _subject_from_text(text: str) -> str:
    first_line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return first_line[:80] + ("…" if len(first_line) > 80 else "")


def _add_inbound_message(
    ticket: Ticket,
    contact: Contact,
    identity: CustomerIdentity,
    inbound: InboundRecord | None,
    cues: list[Any],
    now: datetime,
    settings: IntakeSettings,
) -> Message:
    message = Message(
        ticket=ticket,
        direction=Direction.inbound,
        channel=contact.channel.value,
        kind=contact.kind.value,
        external_id=contact.external_id,
        rfc_message_id=contact.thread.message_id if contact.channel == Channel.email else None,
        identity=identity,
        inbound_id=inbound.id if inbound is not None else None,
        subject=contact.subject,
        text=contact.text,
        new_text=contact.new_text or contact.text,
        html=contact.html,
        language=contact.language,
        again_cues=[
            {"start": c.start, "end": c.end, "match": c.match, "kind": c.kind} for c in cues
        ],
        created_at=now,
        meta=_message_meta(contact),
    )
    db.session.add(message)
    referenced = {*contact.thread.in_reply_to, *contact.thread.references}
    referenced.discard(contact.thread.message_id or "")
    stored_references = [rfc_id[:500] for rfc_id in sorted(referenced)[:100]]
    for rfc_id in stored_references:
        db.session.add(MessageReference(message=message, rfc_message_id=rfc_id))
    cache = intake_cache.active()
    if cache is not None:
        cache.added_message(message, stored_references)
    _store_attachments(message, contact, settings)
    ticket.last_customer_message_at = now
    record_event(
        ticket,
        "message.received",
        now=now,
        message=message,
        channel=contact.channel.value,
        kind=contact.kind.value,
    )
    return message


def _message_meta(contact: Contact) -> dict[str, Any]:
    meta = dict(contact.metadata)
    if contact.defects:
        meta["defects"] = list(contact.defects)[:50]
    if contact.sent_at is not None:
        meta["sent_at"] = contact.sent_at.isoformat()
    return _json_safe(meta)


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_json_safe(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def _store_attachments(message: Message, contact: Contact, settings: IntakeSettings) -> None:
    store = AttachmentStore(settings.attachment_root) if settings.attachment_root else None
    for item in contact.attachments:
        sha256 = None
        error = item.error
        if item.data is not None:
            if store is None:
                error = error or "no attachment storage configured"
            else:
                sha256 = store.put(item.data)
        db.session.add(
            Attachment(
                message=message,
                filename=item.filename[:255],
                content_type=item.content_type[:255],
                size=len(item.data) if item.data is not None else 0,
                sha256=sha256,
                url=item.url,
                content_id=item.content_id,
                is_inline=item.is_inline,
                error=error,
            )
        )


def _acknowledge(
    ticket: Ticket,
    contact: Contact,
    match: CustomerMatch,
    message: Message,
    tracking_token: str,
    now: datetime,
    settings: IntakeSettings,
) -> None:
    """Queue the automatic acknowledgement of a new ticket, within the per-sender cap."""
    identity = match.identity
    if contact.channel == Channel.web:
        if not settings.acknowledge_web:
            return
    elif contact.channel == Channel.email and not settings.acknowledge_email:
        return
    elif contact.channel == Channel.sms and not settings.acknowledge_sms:
        return
    elif contact.channel not in (Channel.email, Channel.sms, Channel.web):
        return
    if identity.is_opted_out:
        return
    if identity.kind == IdentityKind.email.value:
        channel = Channel.email
    else:
        channel = Channel.sms
    since = now - ACK_CAP_WINDOW
    sent = intake_cache.ask(IntakeCache.recent_acknowledgements, identity.address, since=since)
    if sent is UNKNOWN:
        sent = outbox.count_recent(identity.address, "acknowledgement", since=since)
    cache = intake_cache.active()
    if sent >= settings.ack_cap_per_sender:
        record_event(
            ticket, "acknowledgement.skipped", now=now,
            reason=f"more than {settings.ack_cap_per_sender} acknowledgements in 24 h",
        )
        return
    if cache is None:
        _queue_acknowledgement(ticket, contact, match, message, tracking_token, channel, now,
                               settings)
        return
    cache.acknowledged(identity.address, now)

    def when_written() -> None:
        # Later contacts of the batch may have touched the ticket since: its last activity
        # stays theirs.
        latest = ticket.updated_at
        _queue_acknowledgement(ticket, contact, match, message, tracking_token, channel, now,
                               settings)
        ticket.updated_at = max(latest, ticket.updated_at)

    # It quotes the ticket's reference, its id: written when the batch is flushed.
    cache.after_flush(when_written)


#: the window in which at most `ack_cap_per_sender` acknowledgements go to one address
ACK_CAP_WINDOW = timedelta(hours=24)


def _queue_acknowledgement(
    ticket: Ticket,
    contact: Contact,
    match: CustomerMatch,
    message: Message,
    tracking_token: str,
    channel: Channel,
    now: datetime,
    settings: IntakeSettings,
) -> None:
    identity = match.identity
    _written(ticket)
    language = texts.pick_language(contact.language, settings.default_language)
    tracking = ""
    if settings.public_base_url:
        url = f"{settings.public_base_url.rstrip('/')}/track/{tracking_token}"
        tracking = texts.ACK_TRACKING_LINE[language].format(url=url)
    name = match.customer.name or texts.CUSTOMER_FALLBACK_NAME[language]
    if channel == Channel.email:
        body = texts.ACK_EMAIL[language].format(
            name=name,
            reference=ticket.reference,
            tracking=tracking,
            organisation=settings.organisation_name,
        )
        subject = f"{texts.ACK_SUBJECT[language]}: {ticket.subject}"[:250]
    else:
        body = texts.ACK_SMS[language].format(
            reference=ticket.reference, organisation=settings.organisation_name
        )
        subject = None
    rfc_id = new_message_id(ticket, settings.message_id_domain)
    ack = Message(
        ticket=ticket,
        direction=Direction.outbound,
        channel=channel.value,
        kind="acknowledgement",
        rfc_message_id=rfc_id if channel == Channel.email else None,
        identity=identity,
        subject=subject,
        text=body,
        new_text=body,
        language=language,
        is_automatic=True,
        created_at=now,
        delivery_state=DeliveryState.queued,
    )
    db.session.add(ack)
    inbound_mid = message.rfc_message_id
    outbound = OutboundMessage(
        channel=channel,
        to=Identity(IdentityKind(identity.kind), identity.address, match.customer.name),
        text=body,
        subject=subject,
        from_address=settings.mail_from_address,
        from_name=settings.mail_from_name,
        message_id=rfc_id if channel == Channel.email else None,
        in_reply_to=inbound_mid,
        references=(inbound_mid,) if inbound_mid else (),
        is_automatic=True,
        ticket_ref=ticket.reference,
    )
    outbox.enqueue(outbound, now=now, purpose="acknowledgement", ticket=ticket, message=ack)
    record_event(ticket, "acknowledgement.sent", now=now, message=ack, channel=channel.value)


def new_message_id(ticket: Ticket, domain: str) -> str:
    """A Message-ID for mail we send on a ticket (without angle brackets)."""
    import secrets

    return f"{ticket.reference.lower()}.{secrets.token_hex(8)}@{domain}"


def _receive_bounce(
    contact: Contact, *, now: datetime, inbound: InboundRecord | None
) -> IntakeResult:
    """Attach a delivery failure to the thread of the mail that bounced; never a new ticket."""
    ids = [*contact.thread.bounced_message_ids, *contact.thread.in_reply_to,
           *contact.thread.references]
    original = db.session.scalar(
        sa.select(Message)
        .where(Message.rfc_message_id.in_(ids[:50]), Message.direction == Direction.outbound)
        .limit(1)
    ) if ids else None
    ticket = original.ticket if original is not None else _ticket_by_message_ids(ids)
    if ticket is None:
        return IntakeResult("bounce", None, None, "bounce about mail we do not know")
    message = _add_system_message(ticket, contact, inbound, now)
    if original is not None:
        original.delivery_state = DeliveryState.failed
        original.delivery_error = (contact.subject or "bounced")[:500]
        original.delivery_updated_at = now
    record_event(
        ticket, "delivery.failed", now=now, message=message,
        about=original.rfc_message_id if original is not None else None,
    )
    return IntakeResult("bounce", ticket, message, "delivery failure attached to its thread")


def _receive_auto_reply(
    contact: Contact, *, now: datetime, inbound: InboundRecord | None
) -> IntakeResult:
    """Keep an out-of-office on its thread, without reopening or counting it."""
    ids = [*contact.thread.in_reply_to, *contact.thread.references]
    ticket = _ticket_by_message_ids(ids) if ids else None
    if ticket is None and contact.thread.subject_ticket_ref:
        ticket_id = Ticket.id_from_reference(contact.thread.subject_ticket_ref)
        ticket = db.session.get(Ticket, ticket_id) if ticket_id else None
    if ticket is None:
        return IntakeResult("auto_reply", None, None, "automatic reply outside any thread")
    message = _add_system_message(ticket, contact, inbound, now)
    record_event(ticket, "auto_reply.received", now=now, message=message)
    return IntakeResult("auto_reply", ticket, message, "automatic reply kept on its thread")


def _add_system_message(
    ticket: Ticket, contact: Contact, inbound: InboundRecord | None, now: datetime
) -> Message:
    message = Message(
        ticket=ticket,
        direction=Direction.inbound,
        channel=contact.channel.value,
        kind=contact.kind.value,
        external_id=contact.external_id,
        rfc_message_id=contact.thread.message_id,
        inbound_id=inbound.id if inbound is not None else None,
        subject=contact.subject,
        text=contact.text,
        new_text=contact.new_text or contact.text,
        html=contact.html,
        is_automatic=True,
        created_at=now,
        meta=_message_meta(contact),
    )
    db.session.add(message)
    cache = intake_cache.active()
    if cache is not None:
        cache.added_message(message)
        cache.touched_ticket(ticket)
    return message


def _receive_keyword(
    contact: Contact, match: CustomerMatch, *, now: datetime, inbound: InboundRecord | None
) -> IntakeResult:
    """STOP, START and HELP: record the customer's choice on their number."""
    identity = match.identity
    outcome = contact.kind.value
    if contact.kind == ContactKind.help:
        changed = False
    else:
        changed = set_opt_out(
            identity,
            opted_out=contact.kind == ContactKind.opt_out,
            reason=f"texted {contact.text.strip()[:30]!r}",
            now=now,
        )
    ticket = _latest_sms_ticket(identity)
    message = None
    if ticket is not None:
        message = _add_system_message(ticket, contact, inbound, now)
        message.identity = identity
        message.is_automatic = False
        if changed:
            record_event(
                ticket, "optout.changed", now=now, message=message,
                address=identity.address, opted_out=identity.is_opted_out,
            )
    reason = {
        "opt_out": "the number opted out of texts",
        "opt_in": "the number opted back in",
        "help": "the customer asked for help by keyword",
    }[outcome]
    return IntakeResult(outcome, ticket, message, reason)
