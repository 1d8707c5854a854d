"""Raw-record retention: taken-in records go after RAW_RETENTION_DAYS; the rest stay."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from tests.mail.imap_helpers import make_mail
from ticketing import inbound_parsers, jobs_inbound
from ticketing.models import InboundRecord, InboundStatus, Message
from ticketing.pipeline import ingest_raw, store_raw
from ticketing.services import retention


def _record(db_session, status: InboundStatus, arrived) -> InboundRecord:
    record = store_raw("sms", b"Body=x", now=arrived)
    record.status = status
    db_session.flush()
    return record


def test_taken_in_records_past_the_period_go_and_their_messages_stay(
    app, db_session, now, intake_settings
):
    long_ago = now - timedelta(days=400)
    taken_in = ingest_raw("email", make_mail(1), inbound_parsers.parser_for(app, "email"),
                          now=long_ago, settings=intake_settings)
    message = db_session.scalar(sa.select(Message).where(Message.inbound_id == taken_in.record_id))
    kept = {
        status: _record(db_session, status, long_ago)
        for status in (InboundStatus.quarantined, InboundStatus.received)
    }
    gone = [_record(db_session, status, long_ago)
            for status in (InboundStatus.duplicate, InboundStatus.ignored)]
    recent = _record(db_session, InboundStatus.processed, now - timedelta(days=10))
    gone_ids = [taken_in.record_id, *(record.id for record in gone)]

    deleted = retention.purge_raw_records(now, keep=timedelta(days=365))
    db_session.commit()

    assert deleted == 3
    left = set(db_session.scalars(sa.select(InboundRecord.id)))
    assert left == {kept[InboundStatus.quarantined].id, kept[InboundStatus.received].id,
                    recent.id}
    assert not left & set(gone_ids)
    db_session.refresh(message)
    assert message.inbound_id is None  # the message, its text and its ticket stay
    assert message.ticket is not None
    assert "kapot aangekomen" in message.text


def test_the_nightly_job_keeps_everything_by_default(app, db_session, now, monkeypatch):
    _record(db_session, InboundStatus.processed, now - timedelta(days=4000))
    db_session.commit()

    assert app.config["RAW_RETENTION_DAYS"] == 0
    assert jobs_inbound.purge_raw_records(now) == 0
    assert db_session.scalar(sa.select(sa.func.count(InboundRecord.id))) == 1


def test_the_nightly_job_deletes_in_batches_until_done(app, db_session, now, monkeypatch):
    for _ in range(5):
        _record(db_session, InboundStatus.processed, now - timedelta(days=40))
    db_session.commit()
    monkeypatch.setitem(app.config, "RAW_RETENTION_DAYS", 30)
    monkeypatch.setattr(retention, "PURGE_BATCH_SIZE", 2)
    calls = []
    real = retention.purge_raw_records

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **{**kwargs, "limit": 2})

    monkeypatch.setattr(retention, "purge_raw_records", counted)

    assert jobs_inbound.purge_raw_records(now) == 5
    assert len(calls) == 3  # 2 + 2 + 1
    assert db_session.scalar(sa.select(sa.func.count(InboundRecord.id))) == 0
