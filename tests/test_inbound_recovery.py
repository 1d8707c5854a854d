"""The recovery sweep: raw records left waiting (a process died, the queue was down) taken in."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

import sqlalchemy as sa

from tests.mail.imap_helpers import make_mail
from ticketing.clock import utcnow
from ticketing.jobs_inbound import RECOVER_AFTER, recover_waiting_records
from ticketing.models import InboundRecord, InboundStatus, Message
from ticketing.pipeline import store_raw
from ticketing.sms_ingest import store_webhook


def _text(sid: str, sender: str, arrived_at):
    form = [("MessageSid", sid), ("AccountSid", "AC" + "5" * 32), ("From", sender),
            ("To", "+3197010000001"), ("Body", "Storing sinds vanochtend"), ("NumMedia", "0")]
    return store_webhook(urlencode(form).encode(), form,
                         url="https://tickets.example.org/inbound/twilio/sms", signature="x",
                         source="127.0.0.1", now=arrived_at)


def test_stranded_records_of_every_channel_are_taken_in_as_of_their_arrival(app, db_session):
    now = utcnow()
    long_ago = now - RECOVER_AFTER - timedelta(minutes=3)
    mail = store_raw("email", make_mail(1), now=long_ago, source="cli:stranded.eml")
    text = db_session.get(InboundRecord, _text("SM" + "a" * 32, "+31612340001", long_ago))
    just_now = store_raw("email", make_mail(2), now=now - timedelta(seconds=20),
                         source="cli:new.eml")
    db_session.commit()

    summary = recover_waiting_records(now)

    assert summary == {"created": 2}
    for record in (mail, text, just_now):
        db_session.refresh(record)
    assert mail.status == text.status == InboundStatus.processed
    # A record a live process may still be working on is left alone.
    assert just_now.status == InboundStatus.received
    message = db_session.scalar(sa.select(Message).where(Message.inbound_id == mail.id))
    assert message.created_at == long_ago
    assert message.ticket.opened_at == long_ago


def test_a_record_no_parser_here_can_read_stays_waiting(app, db_session, monkeypatch):
    from ticketing import inbound_parsers

    now = utcnow()
    record = store_raw("fax", b"%PDF-1.4", now=now - timedelta(hours=1))
    db_session.commit()

    summary = recover_waiting_records(now)

    assert summary == {"unreadable": 1}
    db_session.refresh(record)
    assert record.status == InboundStatus.received
    assert "fax" not in inbound_parsers.RECORD_PARSERS


def test_a_broken_stranded_record_is_quarantined_with_its_reason(app, db_session):
    now = utcnow()
    record = store_raw("email", b"\x00" * 10, now=now - timedelta(hours=1))
    db_session.commit()

    assert recover_waiting_records(now) == {"quarantined": 1}
    db_session.refresh(record)
    assert record.status == InboundStatus.quarantined
    assert record.reason
    assert db_session.scalar(sa.select(sa.func.count(InboundRecord.id))) == 1
