"""The outbox: queue outbound messages in the caller's transaction, deliver them after commit."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from ticketing.domain.contact import (
    Channel,
    DeliveryReceipt,
    Identity,
    IdentityKind,
    OutboundMessage,
)
from ticketing.extensions import db
from ticketing.models import DeliveryState, Message, OutboxMessage, OutboxStatus, Ticket

#: how long a worker may hold a claimed row before another worker may take it over
CLAIM_LEASE = timedelta(minutes=5)
#: the longest wait between two attempts
MAX_BACKOFF = timedelta(hours=6)

Sender = Callable[[OutboundMessage], DeliveryReceipt]


def outbound_to_payload(message: OutboundMessage) -> dict[str, Any]:
    """Serialise an OutboundMessage for the outbox row (attachments travel by reference)."""
    payload = dataclasses.asdict(message)
    payload["channel"] = message.channel.value
    payload["to"] = {
        "kind": message.to.kind.value,
        "address": message.to.address,
        "display_name": message.to.display_name,
    }
    payload["references"] = list(message.references)
    payload["attachments"] = []
    return payload


def payload_to_outbound(payload: dict[str, Any]) -> OutboundMessage:
    to = payload["to"]
    fields = {f.name for f in dataclasses.fields(OutboundMessage)}
    values = {key: value for key, value in payload.items() if key in fields}
    values.update(
        channel=Channel(payload["channel"]),
        to=Identity(IdentityKind(to["kind"]), to["address"], to.get("display_name")),
        references=tuple(payload.get("references") or ()),
        attachments=(),
    )
    return OutboundMessage(**values)


def enqueue(
    outbound: OutboundMessage,
    *,
    now: datetime,
    purpose: str = "reply",
    ticket: Ticket | None = None,
    message: Message | None = None,
) -> OutboxMessage:
    """Write the message to the outbox in the current transaction; a worker sends it later."""
    row = OutboxMessage(
        ticket=ticket,
        message=message,
        channel=outbound.channel.value,
        purpose=purpose,
        recipient=outbound.to.address,
        payload=outbound_to_payload(outbound),
        status=OutboxStatus.pending,
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )
    db.session.add(row)
    if message is not None:
        message.delivery_state = DeliveryState.queued
        message.delivery_updated_at = now
    # No flush: the caller's next flush or commit writes it, with the rest of its work.
    return row


def count_recent(recipient: str, purpose: str, *, since: datetime) -> int:
    """How many messages of a purpose went (or will go) to one recipient since an instant."""
    return db.session.scalar(
        sa.select(sa.func.count(OutboxMessage.id)).where(
            OutboxMessage.recipient == recipient,
            OutboxMessage.purpose == purpose,
            OutboxMessage.created_at >= since,
        )
    ) or 0


def claim_due(now: datetime, *, limit: int = 100) -> list[int]:
    """Claim up to `limit` rows that are due, so no other worker sends them meanwhile.

    On PostgreSQL rows locked by another worker are skipped; SQLite serialises writers.
    The claim is a lease: a worker that dies leaves rows that are taken over after it expires.
    """
    due = (
        sa.select(OutboxMessage.id)
        .where(
            OutboxMessage.status == OutboxStatus.pending,
            OutboxMessage.next_attempt_at <= now,
            sa.or_(OutboxMessage.locked_until.is_(None), OutboxMessage.locked_until < now),
        )
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    ids = list(db.session.scalars(due))
    if ids:
        db.session.execute(
            sa.update(OutboxMessage)
            .where(OutboxMessage.id.in_(ids))
            .values(locked_until=now + CLAIM_LEASE)
        )
    return ids


def backoff(attempts: int) -> timedelta:
    """Exponential backoff with jitter: about 1, 2, 4, 8 ... minutes, at most six hours."""
    base = timedelta(minutes=2 ** max(attempts - 1, 0))
    jitter = random.uniform(0.8, 1.2)  # noqa: S311 - spreading retries, not security
    return min(base * jitter, MAX_BACKOFF)


def record_receipt(
    row: OutboxMessage,
    receipt: DeliveryReceipt,
    *,
    now: datetime,
    max_attempts: int,
    delivered_via: str | None = None,
) -> None:
    """Store what the provider said and schedule a retry or give up."""
    row.attempts += 1
    row.locked_until = None
    message = db.session.get(Message, row.message_id) if row.message_id else None
    if receipt.accepted:
        row.status = OutboxStatus.sent
        row.sent_at = now
        row.provider_id = receipt.provider_id
        row.last_error = None
        row.delivered_via = delivered_via
        if message is not None:
            message.delivery_state = DeliveryState.sent
            message.provider_id = receipt.provider_id or message.provider_id
            message.delivery_updated_at = now
            message.delivery_error = None
            message.delivery_error_code = None
        return
    error = receipt.error or "refused"
    if receipt.error_code:
        error = f"{error} (code {receipt.error_code})"
    row.last_error = error
    if receipt.permanent or row.attempts >= max_attempts:
        row.status = OutboxStatus.failed
        if message is not None:
            message.delivery_state = DeliveryState.failed
            message.delivery_error = error[:500]
            message.delivery_error_code = (receipt.error_code or None) and receipt.error_code[:16]
            message.delivery_updated_at = now
    else:
        row.next_attempt_at = now + backoff(row.attempts)


def retry(row: OutboxMessage, *, now: datetime) -> None:
    """Put a failed row back in the queue (an admin's decision after fixing the cause)."""
    row.status = OutboxStatus.pending
    row.next_attempt_at = now
    row.locked_until = None
