"""IMAP polling: fetch, store and commit, then flag or move; a crash loses and repeats nothing."""

from __future__ import annotations

import logging
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import Flask
from imap_tools import BaseMailBox, MailBox, MailBoxStartTls, MailBoxUnencrypted

from ticketing.clock import utcnow
from ticketing.extensions import db
from ticketing.mail_ingest import email_parser
from ticketing.mailsource import written_at
from ticketing.models import InboundRecord, InboundStatus
from ticketing.pipeline import process_record, store_raw
from ticketing.services.intake import IntakeSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MailboxSettings:
    host: str
    port: int
    username: str
    password: str
    security: str = "tls"  # "tls", "starttls" or "none"
    folder: str = "INBOX"
    processed_folder: str = ""  # empty: flag \Seen and leave the message where it is
    batch_size: int = 100
    timeout: float = 30.0

    @classmethod
    def from_config(cls, config: Any) -> MailboxSettings:
        return cls(
            host=config["IMAP_HOST"],
            port=int(config["IMAP_PORT"]),
            username=config["IMAP_USERNAME"] or "",
            password=config["IMAP_PASSWORD"] or "",
            security=config["IMAP_SECURITY"],
            folder=config["IMAP_FOLDER"],
            processed_folder=config["IMAP_PROCESSED_FOLDER"] or "",
            batch_size=int(config["IMAP_BATCH_SIZE"]),
        )


@contextmanager
def open_mailbox(settings: MailboxSettings) -> Iterator[BaseMailBox]:
    box: BaseMailBox
    if settings.security == "tls":
        box = MailBox(settings.host, settings.port, timeout=settings.timeout,
                      ssl_context=ssl.create_default_context())
    elif settings.security == "starttls":
        box = MailBoxStartTls(settings.host, settings.port, timeout=settings.timeout,
                              ssl_context=ssl.create_default_context())
    else:
        box = MailBoxUnencrypted(settings.host, settings.port, timeout=settings.timeout)
    box.login(settings.username, settings.password, initial_folder=settings.folder)
    try:
        yield box
    finally:
        box.logout()


def _source(settings: MailboxSettings, uid_validity: int, uid: str) -> str:
    # UIDVALIDITY makes the name unique even if the server renumbers the folder.
    return f"imap://{settings.username}@{settings.host}/{settings.folder};{uid_validity}/{uid}"


def poll_mailbox(app: Flask, settings: MailboxSettings) -> dict[str, int]:
    """Take in up to `batch_size` new messages from the folder.

    Order of work, per batch: fetch the raw bytes, store them and commit (nothing can be lost
    now), take them in oldest first and commit each, and only then flag or move them on the
    server. A crash before the flag means the next poll fetches them again; the stored record
    with the same IMAP source (or, failing that, the Message-ID) makes that a no-op.
    """
    parse = email_parser(app)
    intake_settings = IntakeSettings.from_config(app.config)
    summary = {"fetched": 0, "processed": 0, "quarantined": 0, "already_stored": 0}
    with open_mailbox(settings) as box:
        status = box.folder.status(settings.folder, ["UIDVALIDITY"])
        uid_validity = int(status.get("UIDVALIDITY", 0))
        criteria = "ALL" if settings.processed_folder else "UNSEEN"
        uids = box.uids(criteria)[: settings.batch_size]
        fetched: list[tuple[str, bytes]] = []
        for uid in uids:
            kind, data = box.client.uid("FETCH", uid, "(BODY.PEEK[])")
            raw = next((part[1] for part in data if isinstance(part, tuple)), None)
            if kind == "OK" and raw:
                fetched.append((uid, raw))
        summary["fetched"] = len(fetched)

        now = utcnow()
        records: list[tuple[str, InboundRecord | None, bytes]] = []
        for uid, raw in fetched:
            source = _source(settings, uid_validity, uid)
            known = db.session.scalar(
                sa.select(InboundRecord).where(
                    InboundRecord.source == source, InboundRecord.channel == "email"
                )
            )
            if known is not None and known.status != InboundStatus.received:
                summary["already_stored"] += 1
                records.append((uid, None, raw))
                continue
            records.append((uid, known or store_raw("email", raw, now=now, source=source), raw))
        db.session.commit()

        done: list[str] = []
        for uid, record, _raw in sorted(records, key=lambda item: written_at(item[2])):
            if record is not None:
                outcome = process_record(record, parse, now=utcnow(), settings=intake_settings)
                summary["quarantined" if outcome.outcome == "quarantined" else "processed"] += 1
            done.append(uid)
        if done:
            if settings.processed_folder:
                box.move(done, settings.processed_folder)
            else:
                box.flag(done, [r"\Seen"], True)
    if summary["fetched"]:
        log.info("mailbox %s: %s", settings.folder, summary)
    return summary


def poll_configured_mailbox(app: Flask) -> dict[str, int]:
    from ticketing.jobs import kick_outbox

    summary = poll_mailbox(app, MailboxSettings.from_config(app.config))
    kick_outbox()
    return summary
