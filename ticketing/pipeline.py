"""Inbound unit of work shared by every entry point: store raw, commit, parse, intake, commit.

Web views, CLI commands and jobs call `ingest_raw`; it is the one place that decides how a raw
input becomes tickets, so "stored before anything else happens" and "quarantined with its reason"
hold the same way for email, SMS and the web form.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, OperationalError

from ticketing.clock import utcnow
from ticketing.db import lock_for_writing, reserve_ids, serialize_transactions
from ticketing.domain.contact import Contact, InvalidInbound
from ticketing.extensions import db
from ticketing.models import InboundRecord, InboundStatus
from ticketing.services.intake import (
    ACK_CAP_WINDOW,
    IntakeResult,
    IntakeSettings,
    receive_contact,
)
from ticketing.services.intake_cache import cached_intake
from ticketing.services.tickets import batched_ticket_changes

log = logging.getLogger(__name__)

Parser = Callable[[InboundRecord], list[Contact]]

#: outcomes that leave the raw record "ignored" rather than "processed"
_IGNORED_OUTCOMES = {"auto_reply", "bounce", "opt_out", "opt_in", "help"}


@dataclass
class IngestOutcome:
    record_id: int
    #: created, appended, duplicate, auto_reply, bounce, opt_out, opt_in, help, quarantined
    outcome: str
    results: list[IntakeResult] = field(default_factory=list)
    reason: str | None = None
    #: the reference of the ticket it went to, kept so that reading it after the commit costs
    #: no query
    ticket_reference: str | None = None


def store_raw(
    channel: str,
    payload: bytes,
    *,
    now: datetime,
    source: str | None = None,
    envelope: Mapping[str, Any] | None = None,
) -> InboundRecord:
    """Add the raw input to the session (the caller commits before processing it)."""
    record = InboundRecord(**_raw_fields(channel, payload, now, source, envelope))
    db.session.add(record)
    return record


def insert_raw(
    channel: str,
    payload: bytes,
    *,
    now: datetime,
    source: str | None = None,
    envelope: Mapping[str, Any] | None = None,
) -> int:
    """Insert the raw input in one statement and return its id (the caller commits).

    For entry points that only store and hand over, such as the Twilio webhook: a single
    INSERT ... RETURNING costs a fraction of the ORM's unit of work on the hot path.
    """
    row = _raw_fields(channel, payload, now, source, envelope)
    # A Core statement on the session's connection, parameters apart: it compiles once, and
    # skips the ORM's bulk-insert machinery, which is most of the cost on this hot path.
    return db.session.connection().execute(_INSERT_RAW, row).scalar_one()


_INSERT_RAW = sa.insert(InboundRecord.__table__).returning(InboundRecord.__table__.c.id)


def insert_raws(
    channel: str, items: Sequence[tuple[bytes, str | None]], *, now: datetime
) -> list[int]:
    """Insert many raw inputs, (payload, source) each, and return their ids in the same order.

    One statement for all of them (the caller commits): a chunk of imported mail is stored in
    one round trip rather than one per mail.
    """
    if not items:
        return []
    rows = [_raw_fields(channel, payload, now, source, None) for payload, source in items]
    table = InboundRecord.__table__
    reserved = reserve_ids({table: len(rows)})
    if reserved is None:
        return list(db.session.connection().execute(_INSERT_RAWS, rows).scalars())
    ids = reserved[table]
    # Ids known: one prepared INSERT for every row rather than one statement with every
    # payload in it, which the driver would have to parse.
    for row, new_id in zip(rows, ids, strict=True):
        row["id"] = new_id
    db.session.connection().execute(sa.insert(table), rows)
    return ids


_INSERT_RAWS = sa.insert(InboundRecord.__table__).returning(
    InboundRecord.__table__.c.id, sort_by_parameter_order=True
)


def _raw_fields(
    channel: str,
    payload: bytes,
    now: datetime,
    source: str | None,
    envelope: Mapping[str, Any] | None,
) -> dict[str, Any]:
    return {
        "channel": channel,
        "received_at": now,
        "source": (source or "")[:500] or None,
        "envelope": dict(envelope or {}),
        "payload": payload,
        "sha256": hashlib.sha256(payload).hexdigest(),
        "status": InboundStatus.received,
    }


def process_record(
    record: InboundRecord,
    parse: Parser,
    *,
    now: datetime,
    settings: IntakeSettings,
    arrived_at: datetime | None = None,
) -> IngestOutcome:
    """Parse and take in one stored record; quarantine it with the reason when that fails.

    `now` is when it is processed; intake runs as of `arrived_at` when given (a record taken in
    later by the worker keeps the moment the customer reached us, which is when clocks start).
    A record that runs into another transaction's work (two contacts creating the same new
    customer at once, or a deadlock) is taken in again, up to CONFLICT_ATTEMPTS times: the
    other transaction has ended by then, so its work is visible. Commits: once for the result,
    or once for the quarantine after a rollback.
    """
    record_id = record.id
    intake_time = arrived_at or now
    for attempt in range(1, CONFLICT_ATTEMPTS + 1):
        lock_for_writing()
        try:
            contacts = parse(record)
            if not contacts:
                raise InvalidInbound("nothing to take in")
            results = [
                receive_contact(contact, now=intake_time, settings=settings, inbound=record)
                for contact in contacts
            ]
        except InvalidInbound as error:
            db.session.rollback()
            return _quarantine(record_id, error.reason, now)
        except (IntegrityError, OperationalError) as error:
            db.session.rollback()
            if attempt < CONFLICT_ATTEMPTS:
                log.info("inbound record %s: taking it in again after a conflict (%s)",
                         record_id, error.__class__.__name__)
                finished = _taken_in_meanwhile(record_id)
                if finished is not None:
                    return finished
                continue
            log.exception("inbound record %s could not be processed", record_id)
            return _quarantine(record_id, _failure(error), now)
        except Exception as error:  # noqa: BLE001 - anything else is quarantined, never lost
            log.exception("inbound record %s could not be processed", record_id)
            db.session.rollback()
            return _quarantine(record_id, _failure(error), now)
        outcome = _mark_taken_in(record, results, now)
        db.session.commit()
        return outcome
    raise AssertionError("unreachable: the last attempt returns")


def _failure(error: BaseException) -> str:
    """The quarantine reason for an unexpected error: its class and message, bounded."""
    return f"{error.__class__.__name__}: {error}"[:2000]


def _taken_in_meanwhile(record_id: int) -> IngestOutcome | None:
    """After a rollback: lock the record again; its outcome if another taker finished it.

    A rollback or commit let go of any row lock a caller such as `process_received` took, so a
    retried task or the recovery sweep may have taken the record in since; then there is
    nothing left to do. A record still waiting, or quarantined (being processed again by an
    admin), goes on, with its row locked.
    """
    lock_for_writing()
    record = db.session.get(InboundRecord, record_id, with_for_update=True)
    assert record is not None  # committed before processing started
    if record.status in (InboundStatus.received, InboundStatus.quarantined):
        return None
    outcome = IngestOutcome(record.id, record.outcome or record.status.value, [], record.reason)
    db.session.rollback()
    return outcome


def _mark_taken_in(
    record: InboundRecord, results: list[IntakeResult], now: datetime
) -> IngestOutcome:
    outcome = _summarise(results)
    record.status = (
        InboundStatus.duplicate
        if outcome == "duplicate"
        else InboundStatus.ignored
        if outcome in _IGNORED_OUTCOMES and all(r.ticket is None for r in results)
        else InboundStatus.processed
    )
    record.outcome = outcome
    record.reason = "; ".join(r.reason for r in results if r.reason)[:2000] or None
    ticket = next((r.ticket for r in results if r.ticket is not None), None)
    record.ticket_id = ticket.id if ticket is not None else None
    record.processed_at = now
    return IngestOutcome(record.id, outcome, results, record.reason,
                         ticket.reference if ticket is not None else None)


def _summarise(results: list[IntakeResult]) -> str:
    outcomes = [r.outcome for r in results]
    for preferred in ("created", "appended"):
        if preferred in outcomes:
            return preferred
    return outcomes[0]


def _quarantine(record_id: int, reason: str, now: datetime) -> IngestOutcome:
    lock_for_writing()
    record = db.session.get(InboundRecord, record_id)
    assert record is not None  # committed before processing started
    outcome = _mark_quarantined(record, reason, now)
    db.session.commit()
    return outcome


def _mark_quarantined(record: InboundRecord, reason: str, now: datetime) -> IngestOutcome:
    record.status = InboundStatus.quarantined
    record.outcome = "quarantined"
    record.reason = reason
    record.processed_at = now
    log.warning("inbound record %s quarantined: %s", record.id, reason)
    return IngestOutcome(record.id, "quarantined", [], reason)


def process_batch(
    records: Sequence[InboundRecord],
    parse: Parser,
    *,
    settings: IntakeSettings,
    as_of_arrival: bool = False,
) -> list[IngestOutcome]:
    """Take in stored records in order as one unit of work; one commit for all of them.

    Each record runs in its own savepoint, so one that fails is quarantined with its reason
    while the others go on. The SLA clocks, escalation rules and webhooks of every ticket the
    batch touched are brought up to date once, at the end, rather than after every message:
    that, and one commit instead of one per record, is what makes a batch cheaper. If the
    batch as a whole fails (the end-of-batch work, or the commit), everything rolls back and
    each record is taken in on its own with `process_record`, so the result is never worse.
    A record that ran into another transaction's work (the same customer or message created
    concurrently) is taken in again on its own after the commit, which then sees that work.
    `as_of_arrival` runs intake as of each record's arrival, as `process_received` does.

    First the whole batch is tried in one go: intake's questions answered up front by an
    `IntakeCache` and everything written in one flush, without a savepoint per record. If that
    fails anywhere, it is rolled back and the batch runs again record by record in savepoints,
    as described above.
    """
    if not records:
        return []
    record_ids = [record.id for record in records]
    at_once = _take_in_at_once(records, parse, settings, as_of_arrival)
    if at_once is not None:
        return at_once
    _start_batch()
    outcomes: list[IngestOutcome | None] = []
    conflicts: list[tuple[int, int]] = []
    try:
        with batched_ticket_changes() as changes:
            for record in records:
                now = utcnow()
                intake_time = record.received_at if as_of_arrival else now
                checkpoint = changes.checkpoint()
                try:
                    with db.session.begin_nested():
                        contacts = parse(record)
                        if not contacts:
                            raise InvalidInbound("nothing to take in")
                        results = [
                            receive_contact(
                                contact, now=intake_time, settings=settings, inbound=record,
                                own_savepoint=False,
                            )
                            for contact in contacts
                        ]
                except (IntegrityError, OperationalError):
                    changes.restore(checkpoint)
                    conflicts.append((len(outcomes), record.id))
                    outcomes.append(None)
                except InvalidInbound as error:
                    changes.restore(checkpoint)
                    outcomes.append(_mark_quarantined(record, error.reason, now))
                except Exception as error:  # noqa: BLE001 - quarantined, never lost
                    log.exception("inbound record %s could not be processed", record.id)
                    changes.restore(checkpoint)
                    outcomes.append(_mark_quarantined(
                        record, _failure(error), now
                    ))
                else:
                    outcomes.append(_mark_taken_in(record, results, now))
            changes.apply()
        db.session.commit()
    except Exception:  # noqa: BLE001 - fall back to the proven one-at-a-time path
        log.exception("a batch of %d inbound records failed; taking them in one by one",
                      len(record_ids))
        db.session.rollback()
        return [_process_one_again(record_id, parse, settings, as_of_arrival)
                for record_id in record_ids]
    for position, record_id in conflicts:
        outcomes[position] = _process_one_again(record_id, parse, settings, as_of_arrival)
    return [outcome for outcome in outcomes if outcome is not None]


def _start_batch() -> None:
    lock_for_writing()
    # Two batches side by side would each hold many customers and tickets, and wait on each
    # other's in opposite order (a deadlock): one batch at a time.
    serialize_transactions(BATCH_LOCK)


def _take_in_at_once(
    records: Sequence[InboundRecord], parse: Parser, settings: IntakeSettings,
    as_of_arrival: bool,
) -> list[IngestOutcome] | None:
    """The batch in one unit of work and one flush; None (rolled back) if anything failed."""
    _start_batch()
    outcomes: list[IngestOutcome] = []
    to_take_in: list[tuple[int, InboundRecord, datetime, datetime, list[Contact]]] = []
    for record in records:
        now = utcnow()
        try:
            contacts = parse(record)
            if not contacts:
                raise InvalidInbound("nothing to take in")
        except InvalidInbound as error:
            outcomes.append(_mark_quarantined(record, error.reason, now))
            continue
        except Exception as error:  # noqa: BLE001 - quarantined, never lost
            log.exception("inbound record %s could not be parsed", record.id)
            outcomes.append(_mark_quarantined(
                record, _failure(error), now
            ))
            continue
        intake_time = record.received_at if as_of_arrival else now
        to_take_in.append((len(outcomes), record, now, intake_time, contacts))
        outcomes.append(IngestOutcome(record.id, "pending"))
    try:
        with batched_ticket_changes() as changes, cached_intake(
            [contact for *_, contacts in to_take_in for contact in contacts],
            earliest=min((intake_time for _, _, _, intake_time, _ in to_take_in),
                         default=utcnow()),
            look_back=settings.look_back,
            ack_window=ACK_CAP_WINDOW,
        ) as cache:
            taken = [
                (position, record, now, [
                    receive_contact(contact, now=intake_time, settings=settings,
                                    inbound=record, own_savepoint=False)
                    for contact in contacts
                ])
                for position, record, now, intake_time, contacts in to_take_in
            ]
            cache.finish()
            for position, record, now, results in taken:
                outcomes[position] = _mark_taken_in(record, results, now)
            # Intake reads no clock: they can be written without the ORM.
            changes.apply(bulk=True)
        db.session.commit()
    except Exception as error:  # noqa: BLE001 - the careful path finds and isolates the cause
        log.warning("a batch of %d inbound records could not be taken in at once (%s: %s); "
                 "taking them in record by record", len(records), error.__class__.__name__,
                 str(error)[:200])
        db.session.rollback()
        return None
    return outcomes


def _process_one_again(
    record_id: int, parse: Parser, settings: IntakeSettings, as_of_arrival: bool
) -> IngestOutcome:
    # Locked and checked again: once the batch committed (or rolled back), another worker may
    # have taken this record in, and two takers must never race on it.
    finished = _taken_in_meanwhile(record_id)
    if finished is not None:
        return finished
    record = db.session.get(InboundRecord, record_id)
    assert record is not None  # locked just now
    return process_record(
        record, parse, now=utcnow(), settings=settings,
        arrived_at=record.received_at if as_of_arrival else None,
    )


#: the advisory lock that lets one batch at a time take records in (PostgreSQL)
BATCH_LOCK = "inbound-batch"
#: how often a record that ran into another transaction's work is taken in again
CONFLICT_ATTEMPTS = 3


def process_received(
    record_id: int, parse: Parser, *, settings: IntakeSettings
) -> IngestOutcome | None:
    """Take in a stored record that is still waiting (queued for a worker, or stranded), once.

    The row lock (PostgreSQL) or the write lock (SQLite) makes a second caller, such as a
    retried task racing the recovery sweep, find it no longer waiting and return None.
    """
    lock_for_writing()
    record = db.session.get(InboundRecord, record_id, with_for_update=True)
    if record is None or record.status != InboundStatus.received:
        db.session.rollback()
        return None
    return process_record(
        record, parse, now=utcnow(), settings=settings, arrived_at=record.received_at
    )


def ingest_raw(
    channel: str,
    payload: bytes,
    parse: Parser,
    *,
    now: datetime,
    settings: IntakeSettings,
    source: str | None = None,
    envelope: Mapping[str, Any] | None = None,
) -> IngestOutcome:
    """Store the raw input and commit, then process it (see `process_record`)."""
    lock_for_writing()
    record = store_raw(channel, payload, now=now, source=source, envelope=envelope)
    db.session.commit()
    return process_record(record, parse, now=now, settings=settings)
