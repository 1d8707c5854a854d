"""Raw input is stored before processing; what cannot be processed is quarantined, not lost."""

from __future__ import annotations

import json

import pytest

from ticketing.domain.contact import Channel, InboundRequest
from ticketing.models import InboundRecord, InboundStatus
from ticketing.pipeline import ingest_raw


@pytest.fixture
def parse_memory(app):
    adapter = app.extensions["channels"].get(Channel.memory)

    def parse(record):
        return adapter.parse_inbound(
            InboundRequest(Channel.memory, record.payload, received_at=record.received_at)
        )

    return parse


def test_good_input_is_stored_and_processed(db_session, parse_memory, intake_settings, now):
    payload = json.dumps({"id": "m1", "from": "a@example.org", "text": "Kapot"}).encode()
    outcome = ingest_raw("memory", payload, parse_memory, now=now, settings=intake_settings)
    record = db_session.get(InboundRecord, outcome.record_id)
    assert outcome.outcome == "created"
    assert record.status == InboundStatus.processed
    assert record.payload == payload
    assert record.ticket_id is not None


def test_unparseable_input_is_quarantined_with_its_reason(db_session, parse_memory,
                                                          intake_settings, now):
    outcome = ingest_raw("memory", b"{not json", parse_memory, now=now, settings=intake_settings)
    record = db_session.get(InboundRecord, outcome.record_id)
    assert record.status == InboundStatus.quarantined
    assert record.reason.startswith("not JSON")
    assert record.payload == b"{not json"


def test_a_crash_while_processing_is_quarantined(db_session, intake_settings, now):
    def broken(_record):
        raise RuntimeError("parser bug")

    outcome = ingest_raw("memory", b"raw", broken, now=now, settings=intake_settings)
    record = db_session.get(InboundRecord, outcome.record_id)
    assert record.status == InboundStatus.quarantined
    assert "RuntimeError: parser bug" in record.reason


def test_a_duplicate_delivery_is_recorded_as_such(db_session, parse_memory, intake_settings,
                                                  now):
    payload = json.dumps({"id": "m2", "from": "b@example.org", "text": "x"}).encode()
    ingest_raw("memory", payload, parse_memory, now=now, settings=intake_settings)
    again = ingest_raw("memory", payload, parse_memory, now=now, settings=intake_settings)
    assert again.outcome == "duplicate"
    assert db_session.get(InboundRecord, again.record_id).status == InboundStatus.duplicate
