"""Entry-point plumbing for Twilio webhooks: store the raw webhook, later rebuild and take it in."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from flask import Flask
from werkzeug.datastructures import MultiDict

from channels.sms import TwilioSmsAdapter
from ticketing.db import lock_for_writing, serialize_transactions
from ticketing.domain.contact import Channel, Contact, InboundRequest
from ticketing.extensions import db
from ticketing.models import InboundRecord, InboundStatus, OutboxMessage, OutboxStatus
from ticketing.pipeline import (
    BATCH_LOCK,
    IngestOutcome,
    Parser,
    insert_raw,
    process_batch,
    process_received,
)
from ticketing.services.intake import IntakeSettings

log = logging.getLogger(__name__)


class SmsNotConfigured(RuntimeError):
    """TWILIO_AUTH_TOKEN is not set, so no webhook can be verified or read."""


def sms_adapter(app: Flask) -> TwilioSmsAdapter:
    registry = app.extensions["channels"]
    if Channel.sms not in registry:
        raise SmsNotConfigured("SMS is not configured (TWILIO_AUTH_TOKEN is not set)")
    adapter = registry.get(Channel.sms)
    assert isinstance(adapter, TwilioSmsAdapter)
    return adapter


def parse_sms_record(
    record: InboundRecord, adapter: TwilioSmsAdapter
) -> list[Contact]:
    """Rebuild the webhook from a stored record and parse it (first time and reprocessing alike).

    The form fields are kept in the envelope in order, repeated keys included; a record without
    them is parsed from its raw body.
    """
    envelope = record.envelope or {}
    pairs = envelope.get("form")
    form: MultiDict[str, str] = MultiDict(
        [(str(name), str(value)) for name, value in pairs] if pairs else []
    )
    return adapter.parse_inbound(
        InboundRequest(
            channel=Channel.sms,
            body=record.payload,
            form=form,
            url=envelope.get("url"),
            received_at=record.received_at,
            source=record.source,
        )
    )


def sms_parser(app: Flask) -> Parser:
    """Parse stored SMS records with the configured Twilio adapter."""
    adapter = sms_adapter(app)

    def parse(record: InboundRecord) -> list[Contact]:
        return parse_sms_record(record, adapter)

    return parse


def store_webhook(
    body: bytes,
    form_pairs: Sequence[tuple[str, str]],
    *,
    url: str,
    signature: str | None,
    source: str | None,
    now: datetime,
) -> int:
    """Insert a verified webhook into the raw store as it came; its record id (caller commits)."""
    return insert_raw(
        Channel.sms.value,
        body,
        now=now,
        source=source,
        envelope={
            "url": url,
            "form": [[name, value] for name, value in form_pairs],
            "signature": signature,
        },
    )


def process_stored_sms(app: Flask, record_id: int) -> IngestOutcome | None:
    """Take in a stored webhook that is still waiting, as of the moment it arrived.

    Returns None when it was already taken in (a retried task, or the recovery sweep got there
    first). Commits.
    """
    ready = _ready_to_parse(app, record_id)
    if ready is None:
        return None
    parse, settings = ready
    # A conflict with a simultaneous contact (the same new customer) is retried in there.
    outcome = process_received(record_id, parse, settings=settings)
    if outcome is None:
        return None
    record = db.session.get(InboundRecord, outcome.record_id)
    _after_intake(app, [outcome], [record.received_at] if record is not None else [])
    return outcome


#: Waiting texts one task takes in together. During a burst the queue holds one task per text;
#: a batch shares one commit and brings each touched ticket up to date once, and the tasks of
#: the texts it took along find nothing left to do. Small enough that a batch takes well under
#: a second, so the first texts of a burst are not held back long.
SMS_BATCH_SIZE = 50


def take_in_waiting_sms(
    app: Flask, record_id: int, *, limit: int = SMS_BATCH_SIZE
) -> list[IngestOutcome]:
    """Take in a stored webhook, with up to `limit - 1` other waiting texts, oldest first.

    Returns the outcomes, or nothing when the record was already taken in (by an earlier
    batch, a retried task or the recovery sweep). On PostgreSQL the texts are locked and ones
    another worker holds are skipped; on SQLite the write lock serialises batches. Commits.
    """
    ready = _ready_to_parse(app, record_id)
    if ready is None:
        return []
    parse, settings = ready
    lock_for_writing()
    record = db.session.get(InboundRecord, record_id, with_for_update=True)
    if record is None or record.status != InboundStatus.received:
        db.session.rollback()
        return []
    # Wait for a batch in progress before choosing texts, not with fifty of them locked.
    serialize_transactions(BATCH_LOCK)
    others = db.session.scalars(
        sa.select(InboundRecord)
        .where(
            InboundRecord.channel == Channel.sms.value,
            InboundRecord.status == InboundStatus.received,
            InboundRecord.id != record_id,
        )
        .order_by(InboundRecord.id)
        .limit(max(limit - 1, 0))
        .with_for_update(skip_locked=True)
    ).all()
    records = sorted([record, *others], key=lambda item: item.id)
    arrivals = [item.received_at for item in records]
    outcomes = process_batch(records, parse, settings=settings, as_of_arrival=True)
    _after_intake(app, outcomes, arrivals)
    return outcomes


def _ready_to_parse(app: Flask, record_id: int) -> tuple[Parser, IntakeSettings] | None:
    """The parser and intake settings; None, logged, while SMS is not configured."""
    try:
        return sms_parser(app), IntakeSettings.from_config(app.config)
    except SmsNotConfigured as error:
        # The record stays waiting: once a token is configured, the recovery sweep takes it in.
        log.error("inbound record %s not processed: %s", record_id, error)
        return None


def _after_intake(
    app: Flask, outcomes: Sequence[IngestOutcome], arrivals: Sequence[datetime]
) -> None:
    """Wake the outbox when intake queued something; fetch the MMS media of new messages."""
    from ticketing import jobs, jobs_sms

    if any(o.outcome in ("created", "appended") for o in outcomes) and _queued_outbound(arrivals):
        jobs.kick_outbox()
    if jobs_sms.media_fetch_configured(app.config):
        for outcome in outcomes:
            for result in outcome.results:
                if result.message is not None and result.message.attachments:
                    jobs_sms.queue_media_fetch(result.message.id)


def _queued_outbound(arrivals: Sequence[datetime]) -> bool:
    # Intake (an acknowledgement) or an escalation rule may have queued something as of the
    # contacts' arrival; asking is one indexed lookup, cheaper than waking a worker for nothing.
    if not arrivals:
        return False
    return (
        db.session.scalar(
            sa.select(OutboxMessage.id)
            .where(
                OutboxMessage.status == OutboxStatus.pending,
                OutboxMessage.next_attempt_at.in_(sorted(set(arrivals))),
            )
            .limit(1)
        )
        is not None
    )
