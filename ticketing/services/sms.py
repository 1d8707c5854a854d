"""SMS use cases: delivery status callbacks, opt-out enforcement and reply preparation."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from ticketing.domain.contact import (
    Channel,
    DeliveryReceipt,
    Identity,
    IdentityKind,
    OutboundMessage,
)
from ticketing.domain.sms import (
    OPT_OUT_ERROR_CODE,
    SMS_BODY_MAX_LENGTH,
    SegmentInfo,
    SmsStatusUpdate,
    sms_segments,
    status_rank,
)
from ticketing.extensions import db
from ticketing.models import (
    CustomerIdentity,
    DeliveryState,
    Direction,
    Message,
    OutboxMessage,
    Ticket,
)
from ticketing.services.customers import set_opt_out
from ticketing.services.events import record_event


class SmsRefused(ValueError):
    """A text we must not send; the message tells the agent why, in words."""


# --- delivery status ----------------------------------------------------------------------------

#: Twilio's MessageStatus to our delivery state. "receiving"/"received" belong to inbound
#: messages and never change an outbound one.
_STATE_FOR_STATUS: Mapping[str, DeliveryState] = {
    "scheduled": DeliveryState.queued,
    "accepted": DeliveryState.queued,
    "queued": DeliveryState.queued,
    "sending": DeliveryState.sending,
    "sent": DeliveryState.sent,
    "canceled": DeliveryState.failed,
    "failed": DeliveryState.failed,
    "undelivered": DeliveryState.undelivered,
    # Some parts arrived: the customer has the message, possibly cut short (noted as the error).
    "partially_delivered": DeliveryState.delivered,
    "delivered": DeliveryState.delivered,
    "read": DeliveryState.read,
}

#: The Twilio status each stored state stands for, so callbacks are ordered by the domain's
#: lifecycle ranks. Our "sent" means "the provider accepted it", which the outbox records as
#: soon as Twilio answers the API call; Twilio's own "sent" (handed to the carrier) ranks the
#: same, so it is a no-op, and only later news (delivered, undelivered, failed) moves it on.
_STATUS_FOR_STATE: Mapping[DeliveryState, str] = {
    DeliveryState.queued: "queued",
    DeliveryState.sending: "sending",
    DeliveryState.sent: "sent",
    DeliveryState.delivered: "delivered",
    DeliveryState.undelivered: "undelivered",
    DeliveryState.failed: "failed",
    DeliveryState.read: "read",
}

_FAILED_STATES = (DeliveryState.failed, DeliveryState.undelivered)

#: Plain words for the delivery error codes agents meet most; others show the code alone.
DELIVERY_ERROR_TEXTS: Mapping[str, str] = {
    "21610": "the customer has opted out (replied STOP)",
    "21211": "the number is not a valid phone number",
    "21614": "the number is not a mobile number",
    "30001": "Twilio's queue overflowed",
    "30002": "the Twilio account was suspended",
    "30003": "the handset is unreachable (switched off or out of coverage)",
    "30004": "the message was blocked (the customer or the carrier blocks texts)",
    "30005": "the number is unknown to the carrier or no longer in use",
    "30006": "the number is a landline or the carrier cannot deliver texts to it",
    "30007": "the carrier filtered the message as spam",
    "30008": "delivery failed for a reason the carrier did not give",
    "30034": "the sending number is not registered for A2P 10DLC",
}


@dataclass(frozen=True)
class StatusOutcome:
    """What one status callback did."""

    #: applied, stale (an older or repeated status), unknown (no message of ours), ignored
    outcome: str
    message: Message | None = None
    #: the callback (error 21610) recorded a new opt-out on the customer's number
    opted_out: bool = False


def delivery_error_text(error_code: str | None, status: str | None = None) -> str | None:
    """Describe a Twilio delivery error for an agent, or None when there is none."""
    if error_code:
        text = DELIVERY_ERROR_TEXTS.get(error_code)
        return f"Twilio error {error_code}: {text}" if text else f"Twilio error {error_code}"
    if status == "partially_delivered":
        return "only part of the message was delivered"
    if status in ("failed", "undelivered", "canceled"):
        return f"Twilio reported the message {status}"
    return None


def find_sent_sms(message_sid: str) -> Message | None:
    """Return our outbound SMS that Twilio knows by this MessageSid."""
    return db.session.scalar(
        sa.select(Message)
        .where(
            Message.provider_id == message_sid,
            Message.channel == Channel.sms.value,
            Message.direction == Direction.outbound,
        )
        .limit(1)
    )


def apply_status_update(update: SmsStatusUpdate, *, now: datetime) -> StatusOutcome:
    """Record a Twilio delivery status callback on the message it is about.

    Idempotent and safe out of order: only a status later in the lifecycle than the stored one
    is written, and the comparison happens inside the UPDATE statement, so two callbacks for
    one message handled at the same moment by two workers cannot move it backwards (on
    PostgreSQL the second UPDATE re-checks its condition after the first commits). Error 21610
    records the opt-out on the recipient's number, even for a message we do not know.

    A callback for a MessageSid we have not stored yet (Twilio answered faster than our outbox
    committed the provider id) is reported "unknown"; Twilio's next callback for the message
    brings the state up to date.
    """
    message = find_sent_sms(update.message_sid)
    opted_out = _record_opt_out_from_status(update, message, now=now)
    if message is None:
        return StatusOutcome("unknown", None, opted_out)
    new_state = _STATE_FOR_STATUS.get(update.status)
    if new_state is None:
        return StatusOutcome("ignored", message, opted_out)

    new_rank = status_rank(update.status)
    older_states = [
        state for state, status in _STATUS_FOR_STATE.items() if status_rank(status) < new_rank
    ]
    error_code = (update.error_code or "").strip()[:16] or None
    applied = db.session.execute(
        sa.update(Message)
        .where(
            Message.id == message.id,
            sa.or_(Message.delivery_state.is_(None), Message.delivery_state.in_(older_states)),
        )
        .values(
            delivery_state=new_state,
            delivery_error_code=error_code,
            delivery_error=delivery_error_text(error_code, update.status),
            delivery_updated_at=now,
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    if not applied:
        return StatusOutcome("stale", message, opted_out)
    db.session.refresh(message)
    if new_state in _FAILED_STATES:
        record_event(
            message.ticket,
            "delivery.failed",
            now=now,
            message=message,
            channel=Channel.sms.value,
            status=update.status,
            code=error_code,
            error=message.delivery_error,
        )
    return StatusOutcome("applied", message, opted_out)


def _record_opt_out_from_status(
    update: SmsStatusUpdate, message: Message | None, *, now: datetime
) -> bool:
    if not update.is_opt_out:
        return False
    identity = message.identity if message is not None else None
    if identity is None and update.to:
        identity = _phone_identity(update.to)
    if identity is None:
        return False
    ticket = message.ticket if message is not None else None
    return _opt_out(identity, ticket, reason="Twilio error 21610 in a delivery report", now=now)


def _opt_out(
    identity: CustomerIdentity, ticket: Ticket | None, *, reason: str, now: datetime
) -> bool:
    changed = set_opt_out(identity, opted_out=True, reason=reason, now=now)
    if changed and ticket is not None:
        record_event(
            ticket, "optout.changed", now=now, address=identity.address, opted_out=True,
            reason=reason,
        )
    return changed


def _phone_identity(address: str) -> CustomerIdentity | None:
    return db.session.scalar(
        sa.select(CustomerIdentity).where(
            CustomerIdentity.kind == IdentityKind.phone.value,
            CustomerIdentity.address == address.strip(),
        )
    )


# --- opt-out enforcement ------------------------------------------------------------------------


def ensure_can_text(identity: CustomerIdentity | None) -> None:
    """Refuse an outbound text to a number that opted out (or to no number at all).

    Raises:
        SmsRefused: with a message an agent can act on.
    """
    if identity is None or identity.kind != IdentityKind.phone.value:
        raise SmsRefused("this customer has no phone number to text")
    if identity.opted_out_at is not None:
        reason = f" ({identity.opt_out_reason})" if identity.opt_out_reason else ""
        raise SmsRefused(
            f"{identity.address} opted out of text messages on "
            f"{identity.opted_out_at:%Y-%m-%d}{reason}; we can text this number again only "
            "after the customer texts START"
        )


def opt_out_refusal(row: OutboxMessage) -> DeliveryReceipt | None:
    """Return a permanent refusal for a queued SMS whose recipient has since opted out.

    The outbox worker asks this before handing an SMS to Twilio: a reply queued a moment
    before the customer texted STOP must not go out.
    """
    if row.channel != Channel.sms.value:
        return None
    identity = _phone_identity(row.recipient)
    try:
        ensure_can_text(identity)
    except SmsRefused as refusal:
        if identity is None:
            return None  # a number we never stored cannot have opted out with us
        return DeliveryReceipt(
            accepted=False, error=str(refusal), error_code=OPT_OUT_ERROR_CODE, permanent=True
        )
    return None


def apply_send_receipt(row: OutboxMessage, receipt: DeliveryReceipt, *, now: datetime) -> bool:
    """Record the opt-out Twilio reported when it refused a send (error 21610).

    Returns whether a new opt-out was recorded. Call after `outbox.record_receipt`.
    """
    if row.channel != Channel.sms.value or receipt.accepted:
        return False
    if receipt.error_code != OPT_OUT_ERROR_CODE:
        return False
    identity = _phone_identity(row.recipient)
    if identity is None:
        return False
    ticket = db.session.get(Ticket, row.ticket_id) if row.ticket_id else None
    return _opt_out(identity, ticket, reason="Twilio refused a text with error 21610", now=now)


# --- composing replies --------------------------------------------------------------------------


@dataclass(frozen=True)
class SmsDraftInfo:
    """What the composer shows while an agent types an SMS reply."""

    characters: int
    segments: int
    encoding: str  # "GSM-7" or "UCS-2"
    per_segment: int
    remaining_in_segment: int
    max_characters: int
    too_long: bool

    @classmethod
    def of(cls, segments: SegmentInfo, characters: int) -> SmsDraftInfo:
        return cls(
            characters=characters,
            segments=segments.segments,
            encoding=segments.encoding.value,
            per_segment=segments.per_segment,
            remaining_in_segment=segments.remaining,
            max_characters=SMS_BODY_MAX_LENGTH,
            too_long=characters > SMS_BODY_MAX_LENGTH,
        )

    def as_dict(self) -> dict[str, int | str | bool]:
        return {
            "characters": self.characters,
            "segments": self.segments,
            "encoding": self.encoding,
            "per_segment": self.per_segment,
            "remaining_in_segment": self.remaining_in_segment,
            "max_characters": self.max_characters,
            "too_long": self.too_long,
        }


def sms_draft_info(text: str) -> SmsDraftInfo:
    """Count characters and segments of a draft the way the network will split it."""
    return SmsDraftInfo.of(sms_segments(text), len(text))


def sms_recipient(ticket: Ticket) -> CustomerIdentity | None:
    """Return the number a reply on this ticket goes to: the one the customer last texted from.

    A ticket opened by mail or web form falls back to the customer's first phone number.
    """
    last_texted = db.session.scalar(
        sa.select(CustomerIdentity)
        .join(Message, Message.identity_id == CustomerIdentity.id)
        .where(
            Message.ticket_id == ticket.id,
            Message.direction == Direction.inbound,
            Message.channel == Channel.sms.value,
            CustomerIdentity.kind == IdentityKind.phone.value,
        )
        .order_by(Message.created_at.desc(), Message.id.desc())
        .limit(1)
    )
    if last_texted is not None:
        return last_texted
    return db.session.scalar(
        sa.select(CustomerIdentity)
        .where(
            CustomerIdentity.customer_id == ticket.customer_id,
            CustomerIdentity.kind == IdentityKind.phone.value,
        )
        .order_by(CustomerIdentity.id)
        .limit(1)
    )


def prepare_sms_reply(
    ticket: Ticket, text: str, *, identity: CustomerIdentity | None = None
) -> OutboundMessage:
    """Check an SMS reply and return the OutboundMessage to queue with it.

    The caller (the agent reply service) writes the Message and enqueues this in the same
    transaction.

    Raises:
        SmsRefused: when the number opted out, there is no number, or the text cannot be sent.
    """
    recipient = identity or sms_recipient(ticket)
    ensure_can_text(recipient)
    assert recipient is not None  # ensure_can_text refused None
    if not text.strip():
        raise SmsRefused("the reply is empty")
    if len(text) > SMS_BODY_MAX_LENGTH:
        raise SmsRefused(
            f"the reply is {len(text):,} characters; one text carries at most "
            f"{SMS_BODY_MAX_LENGTH:,}"
        )
    return OutboundMessage(
        channel=Channel.sms,
        to=Identity(IdentityKind.phone, recipient.address, ticket.customer.name),
        text=text,
        ticket_ref=ticket.reference,
    )
