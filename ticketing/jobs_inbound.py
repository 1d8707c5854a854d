"""Background intake: stored webhooks taken in by the worker, and waiting records recovered."""

from __future__ import annotations

import logging
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app, has_app_context
from huey import crontab

from ticketing.clock import utcnow
from ticketing.domain.contact import Channel
from ticketing.extensions import db, huey
from ticketing.models import InboundRecord, InboundStatus

log = logging.getLogger(__name__)

#: A record still waiting this long after it arrived was stranded: the process that stored it
#: died, or the task queue was down when it was queued. Long enough that a busy worker's own
#: backlog is not mistaken for that (both are safe: a record is only ever taken in once).
RECOVER_AFTER = timedelta(minutes=2)
#: records one sweep takes in at most, so a large backlog never makes one task run for hours
RECOVER_BATCH_SIZE = 200


def _context() -> AbstractContextManager[Any]:
    if has_app_context():
        return nullcontext()
    from ticketing import jobs  # the worker binds its app there

    return jobs._context()


def _app() -> Flask:
    return current_app._get_current_object()  # type: ignore[attr-defined]


def queue_sms_intake(record_id: int) -> None:
    """Ask a worker to take in a stored webhook (inline when the queue runs immediately)."""
    try:
        take_in_sms_task(record_id)
    except Exception:  # noqa: BLE001 - the record is stored; the recovery sweep takes it in
        log.exception("could not queue inbound record %s; the recovery sweep will take it in",
                      record_id)


@huey.task()
def take_in_sms_task(record_id: int) -> int:
    """Take in the stored webhook with other waiting texts; how many were taken in."""
    from ticketing.sms_ingest import take_in_waiting_sms

    with _context():
        return len(take_in_waiting_sms(_app(), record_id))


def recover_waiting_records(
    now: datetime, *, older_than: timedelta = RECOVER_AFTER, limit: int = RECOVER_BATCH_SIZE
) -> dict[str, int]:
    """Take in raw records still waiting well after they arrived, oldest first; commits each."""
    from ticketing.inbound_parsers import ReprocessUnavailable, parser_for
    from ticketing.jobs import kick_outbox
    from ticketing.pipeline import process_received
    from ticketing.services.intake import IntakeSettings
    from ticketing.sms_ingest import process_stored_sms

    app = _app()
    rows = db.session.execute(
        sa.select(InboundRecord.id, InboundRecord.channel)
        .where(
            InboundRecord.status == InboundStatus.received,
            InboundRecord.received_at < now - older_than,
        )
        .order_by(InboundRecord.id)
        .limit(limit)
    ).all()
    db.session.commit()  # end the read before taking each in its own transaction
    settings = IntakeSettings.from_config(app.config)
    summary: dict[str, int] = {}
    for record_id, channel in rows:
        if channel == Channel.sms.value:
            outcome = process_stored_sms(app, record_id)
        else:
            try:
                parse = parser_for(app, channel)
            except ReprocessUnavailable as error:
                log.error("inbound record %s left waiting: %s", record_id, error)
                summary["unreadable"] = summary.get("unreadable", 0) + 1
                continue
            outcome = process_received(record_id, parse, settings=settings)
            if outcome is not None and outcome.outcome in ("created", "appended"):
                kick_outbox()  # an acknowledgement may be waiting
        key = outcome.outcome if outcome is not None else "already_taken_in"
        summary[key] = summary.get(key, 0) + 1
    if rows:
        log.warning("recovered %d waiting inbound records: %s", len(rows), summary)
    return summary


@huey.periodic_task(crontab(minute="*"))
def recover_waiting_records_periodically() -> dict[str, int]:
    with _context():
        return recover_waiting_records(utcnow())


#: batches one nightly run deletes at most; a first run on a large backlog spreads over nights
PURGE_MAX_BATCHES = 100


def purge_raw_records(now: datetime) -> int:
    """Delete raw records older than RAW_RETENTION_DAYS (0: none), a batch per commit."""
    from ticketing.services import retention

    days = int(current_app.config.get("RAW_RETENTION_DAYS") or 0)
    if days <= 0:
        return 0
    deleted = 0
    for _ in range(PURGE_MAX_BATCHES):
        count = retention.purge_raw_records(now, keep=timedelta(days=days))
        db.session.commit()
        deleted += count
        if count < retention.PURGE_BATCH_SIZE:
            break
    if deleted:
        log.info("deleted %d raw inbound records older than %d days", deleted, days)
    return deleted


@huey.periodic_task(crontab(minute="17", hour="3"))
def purge_raw_records_nightly() -> int:
    with _context():
        return purge_raw_records(utcnow())
