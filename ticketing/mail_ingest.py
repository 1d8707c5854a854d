"""Entry-point plumbing for raw mail: store, commit, parse, take in (CLI, HTTP push, IMAP)."""

from __future__ import annotations

import gc
import multiprocessing
import os
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import defer

from ticketing.clock import utcnow
from ticketing.db import lock_for_writing
from ticketing.domain.contact import Channel, Contact, InboundRequest
from ticketing.extensions import db
from ticketing.mailsource import RawMail
from ticketing.models import InboundRecord
from ticketing.pipeline import IngestOutcome, Parser, ingest_raw, insert_raws, process_batch
from ticketing.services.intake import IntakeSettings


def email_parser(app: Flask) -> Parser:
    """Parse a stored record with the configured e-mail adapter."""
    adapter = app.extensions["channels"].get(Channel.email)

    def parse(record: InboundRecord) -> list[Any]:
        envelope = record.envelope or {}
        return adapter.parse_inbound(
            InboundRequest(
                Channel.email,
                record.payload,
                headers=envelope.get("headers") or {},
                received_at=record.received_at,
                source=record.source,
            )
        )

    return parse


def ingest_mail(
    app: Flask,
    raw: bytes,
    *,
    source: str,
    envelope: Mapping[str, Any] | None = None,
    settings: IntakeSettings | None = None,
) -> IngestOutcome:
    """Take in one raw message: stored and committed first, then processed (commits)."""
    return ingest_raw(
        Channel.email.value,
        raw,
        email_parser(app),
        now=utcnow(),
        settings=settings or IntakeSettings.from_config(app.config),
        source=source,
        envelope=envelope,
    )


def outcome_line(outcome: IngestOutcome, source: str, raw: bytes | None = None) -> dict[str, Any]:
    """The JSON line `flask email ingest` prints for one message."""
    message_id = None
    for result in outcome.results:
        if result.message is not None and result.message.rfc_message_id:
            message_id = result.message.rfc_message_id
            break
        if result.message is not None:
            message_id = result.message.external_id
    if message_id is None and raw is not None:
        # Nothing was stored as a message (quarantined, or an auto-reply outside any thread):
        # the header still lets an operator match the line to the mail.
        message_id = header_message_id(raw)
    line: dict[str, Any] = {
        "source": source,
        "message_id": message_id,
        "outcome": _public_outcome(outcome.outcome),
        "ticket": outcome.ticket_reference,
    }
    if outcome.outcome == "quarantined":
        line["reason"] = outcome.reason
    return line


def header_message_id(raw: bytes) -> str | None:
    from email.parser import BytesHeaderParser

    try:
        value = BytesHeaderParser().parsebytes(raw[:65536]).get("Message-ID")
    except (TypeError, ValueError, IndexError):
        return None
    return str(value).strip().strip("<>")[:500] or None if value else None


def _public_outcome(outcome: str) -> str:
    # The contract lists created, appended, duplicate, auto_reply, bounce, quarantined; the SMS
    # keyword outcomes cannot occur for mail.
    return outcome if outcome in {
        "created", "appended", "duplicate", "auto_reply", "bounce", "quarantined"
    } else "appended"


#: Mails stored in one commit, parsed and taken in as one unit of work at a time. Each chunk
#: has a fixed cost (its questions read up front, the SLA configuration, the commits), and on
#: two cores 200 a chunk took in a third more mail per second than 50. A chunk holds the
#: batch lock while it is taken in (on SQLite the write lock: about a second for 200 mails).
INGEST_CHUNK = 200
#: ... and at most this many bytes of raw mail, so that a run of large mails makes small chunks
INGEST_CHUNK_BYTES = 32 * 1024 * 1024

StoredChunk = list[tuple[RawMail, int]]


def ingest_many(
    app: Flask,
    mails: Sequence[RawMail],
    *,
    settings: IntakeSettings | None = None,
    parallel: bool | None = None,
) -> Iterator[tuple[RawMail, IngestOutcome]]:
    """Take in a batch of raw mails in order, yielding each outcome as it is known.

    Each chunk of mails is stored and committed first (nothing can be lost after that), then
    parsed and taken in as one unit of work (`pipeline.process_batch`). With `parallel` (the
    default for more than two chunks on more than one core), a helper process parses the next
    chunk while this one takes the previous one in, so the parser's CPU time overlaps intake's.
    A mail that cannot be parsed is quarantined with its reason, as `ingest_mail` would do it.
    """
    settings = settings or IntakeSettings.from_config(app.config)
    chunks = _chunks(mails)
    if parallel is None:
        parallel = len(chunks) > 2 and (os.cpu_count() or 1) > 1
    with _fewer_collections():
        yield from _ingest_chunks(app, chunks, settings, parallel)


def _chunks(mails: Sequence[RawMail]) -> list[Sequence[RawMail]]:
    """Consecutive mails, at most INGEST_CHUNK of them and INGEST_CHUNK_BYTES (or one mail)."""
    chunks: list[Sequence[RawMail]] = []
    start, size = 0, 0
    for index, mail in enumerate(mails):
        full = index - start >= INGEST_CHUNK or (
            index > start and size + len(mail.raw) > INGEST_CHUNK_BYTES
        )
        if full:
            chunks.append(mails[start:index])
            start, size = index, 0
        size += len(mail.raw)
    if start < len(mails):
        chunks.append(mails[start:])
    return chunks


@contextmanager
def _fewer_collections() -> Iterator[None]:
    """Let the garbage collector run less often while many chunks are taken in.

    Each chunk creates some thousand ORM objects, and with the default threshold the collector
    ran every few hundred allocations, each time walking the mails held in memory as well: a
    tenth of the CPU time of an import. What is alive when the import starts is frozen out of
    the collector's walks; the settings are restored afterwards.
    """
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(max(thresholds[0], 50_000), thresholds[1], thresholds[2])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


def _ingest_chunks(
    app: Flask, chunks: list[Sequence[RawMail]], settings: IntakeSettings, parallel: bool
) -> Iterator[tuple[RawMail, IngestOutcome]]:
    if not parallel:
        from channels.email.batch import parse_each

        adapter = app.extensions["channels"].get(Channel.email)
        for chunk in chunks:
            stored, stored_at = _store_chunk(chunk)
            parsed = parse_each(adapter, [(mail.raw, mail.source, stored_at) for mail, _ in stored])
            yield from _take_in_chunk(stored, parsed, settings)
        return
    from channels.email.batch import parse_many, start_parser

    options = app.extensions["channels"].get(Channel.email).parse_options
    # A fresh interpreter rather than a fork: a forked child would share this process's
    # database sockets, and only the parser's modules need loading there.
    with ProcessPoolExecutor(
        max_workers=1, mp_context=multiprocessing.get_context("spawn"),
        initializer=start_parser, initargs=(options,),
    ) as pool:
        pending: tuple[StoredChunk, Future[list[Any]]] | None = None
        for chunk in [*chunks, None]:
            ahead = None
            if chunk is not None:
                stored, stored_at = _store_chunk(chunk)
                ahead = (stored, pool.submit(
                    parse_many, [(mail.raw, mail.source, stored_at) for mail, _id in stored]
                ))
            if pending is not None:
                yield from _take_in_chunk(pending[0], pending[1].result(), settings)
            pending = ahead


def _store_chunk(chunk: Sequence[RawMail]) -> tuple[StoredChunk, datetime]:
    lock_for_writing()
    now = utcnow()
    ids = insert_raws(Channel.email.value, [(mail.raw, mail.source) for mail in chunk], now=now)
    stored = list(zip(chunk, ids, strict=True))
    db.session.commit()
    return stored, now


def _take_in_chunk(
    stored: StoredChunk, parsed: list[Any], settings: IntakeSettings
) -> Iterator[tuple[RawMail, IngestOutcome]]:
    by_record = {
        record_id: result for (_mail, record_id), result in zip(stored, parsed, strict=True)
    }

    def already_parsed(record: InboundRecord) -> list[Contact]:
        result = by_record[record.id]
        if isinstance(result, BaseException):
            raise result
        return result

    # Loaded inside the write transaction the batch runs in: on SQLite, starting it afterwards
    # would end this read and reload every record one by one.
    lock_for_writing()
    # The raw bytes were parsed in the helper process: do not load them again.
    records = {
        record.id: record
        for record in db.session.scalars(
            sa.select(InboundRecord)
            .where(InboundRecord.id.in_(list(by_record)))
            .options(defer(InboundRecord.payload))
        )
    }
    outcomes = process_batch(
        [records[record_id] for _mail, record_id in stored], already_parsed, settings=settings
    )
    yield from zip((mail for mail, _id in stored), outcomes, strict=True)
