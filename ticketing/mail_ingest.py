"""Entry-point plumbing for raw mail: store, commit, parse, take in (CLI, HTTP push, IMAP)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from ticketing.clock import utcnow
from ticketing.domain.contact import Channel, InboundRequest
from ticketing.models import InboundRecord
from ticketing.pipeline import IngestOutcome, Parser, ingest_raw
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
