"""Raw input is stored before processing; what cannot be processed is quarantined, not lost."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

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


# --- a batch of stored records as one unit of work ---------------------------------------------


@pytest.fixture
def stored(db_session, now):
    """Store one raw record per contact; parse each record back to its contact."""
    from ticketing.pipeline import store_raw

    contacts: dict[int, object] = {}

    def store(*items, at=now):
        records = []
        for contact in items:
            record = store_raw("email", contact.external_id.encode(), now=at)
            db_session.flush()
            contacts[record.id] = contact
            records.append(record)
        db_session.commit()
        return records

    def parse(record):
        contact = contacts[record.id]
        if isinstance(contact, BaseException):
            raise contact
        return [contact]

    store.parse = parse
    store.contacts = contacts
    return store


@pytest.fixture
def refreshes(monkeypatch):
    """The ticket ids whose SLA clocks were recomputed, once per recomputation."""
    from ticketing.services import sla

    seen: list[int] = []
    real = sla.refresh_tickets_sla

    def counting(tickets, **kwargs):
        seen.extend(ticket.id for ticket in tickets)
        return real(tickets, **kwargs)

    monkeypatch.setattr(sla, "refresh_tickets_sla", counting)
    return seen


def test_a_batch_threads_within_itself_and_refreshes_each_ticket_once(
    db_session, stored, make_contact, intake_settings, refreshes, caplog
):
    from ticketing.domain.contact import ThreadHints
    from ticketing.models import Ticket
    from ticketing.pipeline import process_batch
    from ticketing.services import sla

    original = make_contact("Mijn pakket is kapot aangekomen.", sender="anna@example.nl")
    reply = make_contact(
        "Ik heb nog steeds niets gehoord.", sender="anna@example.nl",
        thread=ThreadHints(message_id="reply-1@test", in_reply_to=(original.external_id,)),
    )
    other = make_contact("Factuur klopt niet.", sender="bert@example.nl")
    records = stored(original, reply, other)

    outcomes = process_batch(records, stored.parse, settings=intake_settings,
                             as_of_arrival=True)

    assert [o.outcome for o in outcomes] == ["created", "appended", "created"]
    assert outcomes[0].ticket_reference == outcomes[1].ticket_reference
    assert all(r.status == InboundStatus.processed for r in records)
    assert "record by record" not in caplog.text
    assert "one by one" not in caplog.text
    first, _, second = (db_session.get(Ticket, r.ticket_id) for r in records)
    # Two messages on the first ticket, one SLA recomputation each at the end of the batch.
    assert sorted(refreshes) == sorted([first.id, second.id])
    assert first.contact_count == 2
    due = (first.first_response_due_at, first.next_due_at, first.sla_state)
    sla.refresh_ticket_sla(first, now=records[-1].received_at)
    assert (first.first_response_due_at, first.next_due_at, first.sla_state) == due


def test_a_record_failing_in_a_batch_is_quarantined_and_leaves_no_trace(
    db_session, stored, make_contact, intake_settings, monkeypatch, caplog
):
    from ticketing.models import Ticket
    from ticketing.pipeline import process_batch
    from ticketing.services import intake

    real = intake._acknowledge

    def failing(ticket, contact, *args, **kwargs):
        if contact.sender.address == "broken@example.nl":
            raise RuntimeError("acknowledgement template broken")
        return real(ticket, contact, *args, **kwargs)

    monkeypatch.setattr(intake, "_acknowledge", failing)
    good = make_contact("Levering te laat.", sender="carla@example.nl")
    bad = make_contact("Dit gaat mis.", sender="broken@example.nl", subject="Gaat mis")
    unreadable = RuntimeError("parser bug")
    last = make_contact("Monteur kwam niet.", sender="dirk@example.nl")
    records = stored(good, bad, last)
    stored.contacts[records[1].id] = bad
    extra = stored(make_contact("placeholder"))[0]
    stored.contacts[extra.id] = unreadable

    outcomes = process_batch([*records, extra], stored.parse, settings=intake_settings)

    assert [o.outcome for o in outcomes] == ["created", "quarantined", "created", "quarantined"]
    assert "RuntimeError: acknowledgement template broken" in outcomes[1].reason
    assert "RuntimeError: parser bug" in outcomes[3].reason
    assert records[1].status == InboundStatus.quarantined
    # The ticket the failing record had opened was rolled back with its savepoint, and the
    # end of the batch did not trip over it (no fall-back to one-by-one).
    subjects = list(db_session.scalars(sa.select(Ticket.subject)))
    assert "Gaat mis" not in subjects
    assert len(subjects) == 2
    assert "one by one" not in caplog.text


def test_when_the_end_of_a_batch_fails_each_record_is_taken_in_on_its_own(
    db_session, stored, make_contact, intake_settings, monkeypatch, caplog
):
    from ticketing.models import Message
    from ticketing.pipeline import process_batch
    from ticketing.services import tickets

    real = tickets._bring_up_to_date
    calls = []

    def fails_in_the_batch(changes, *args):
        calls.append(changes)
        # Fails for the batch at once, and again for it record by record.
        if len(calls) <= 2:
            raise RuntimeError("database went away")
        return real(changes, *args)

    monkeypatch.setattr(tickets, "_bring_up_to_date", fails_in_the_batch)
    records = stored(make_contact("Een.", sender="e1@example.nl"),
                     make_contact("Twee.", sender="e2@example.nl"))

    outcomes = process_batch(records, stored.parse, settings=intake_settings)

    assert [o.outcome for o in outcomes] == ["created", "created"]
    assert "could not be taken in at once (RuntimeError: database went away)" in caplog.text
    assert "one by one" in caplog.text
    assert db_session.scalar(sa.select(sa.func.count(Message.id))) == 4  # two acknowledgements
    assert all(db_session.get(InboundRecord, r.id).status == InboundStatus.processed
               for r in records)


def test_a_conflict_in_a_batch_is_taken_in_again_after_the_commit(
    db_session, stored, make_contact, intake_settings, monkeypatch
):
    from sqlalchemy.exc import IntegrityError

    from ticketing.pipeline import process_batch
    from ticketing.services import intake

    real = intake._receive
    raised = []

    def races_once(contact, **kwargs):
        # Once for the batch at once, once for it record by record: then taken in alone.
        if contact.sender.address == "race@example.nl" and len(raised) < 2:
            raised.append(contact)
            # What another transaction creating the same customer at the same moment causes.
            raise IntegrityError("INSERT INTO customer_identities", {}, Exception("duplicate"))
        return real(contact, **kwargs)

    monkeypatch.setattr(intake, "_receive", races_once)
    records = stored(make_contact("Een.", sender="race@example.nl"),
                     make_contact("Twee.", sender="calm@example.nl"))

    outcomes = process_batch(records, stored.parse, settings=intake_settings)

    assert len(raised) == 2
    assert [o.outcome for o in outcomes] == ["created", "created"]
    assert [o.record_id for o in outcomes] == [r.id for r in records]
    assert all(db_session.get(InboundRecord, r.id).status == InboundStatus.processed
               for r in records)


def test_one_batch_at_a_time_holds_the_batch_lock_until_its_transaction_ends(
    db_session, database_url
):
    import zlib

    from ticketing.db import serialize_transactions
    from ticketing.pipeline import BATCH_LOCK

    serialize_transactions(BATCH_LOCK)

    if not database_url.startswith("postgresql"):
        return  # SQLite: the write lock already lets one writer in at a time
    other = sa.create_engine(database_url)
    try:
        with other.connect() as connection:
            got_it = connection.scalar(sa.text("SELECT pg_try_advisory_xact_lock(:key)"),
                                       {"key": zlib.crc32(BATCH_LOCK.encode())})
            assert got_it is False
    finally:
        other.dispose()


def test_a_record_that_meets_a_concurrent_transaction_is_taken_in_again(
    db_session, parse_memory, intake_settings, now, monkeypatch
):
    from sqlalchemy.exc import OperationalError

    from ticketing.services import intake

    real = intake._receive
    raised = []

    def deadlocks_once(contact, **kwargs):
        if not raised:
            raised.append(contact)
            raise OperationalError("INSERT INTO customers", {}, Exception("deadlock detected"))
        return real(contact, **kwargs)

    monkeypatch.setattr(intake, "_receive", deadlocks_once)
    payload = json.dumps({"id": "m3", "from": "race@example.org", "text": "Kapot"}).encode()

    outcome = ingest_raw("memory", payload, parse_memory, now=now, settings=intake_settings)

    assert raised
    assert outcome.outcome == "created"
    assert db_session.get(InboundRecord, outcome.record_id).status == InboundStatus.processed


def test_a_conflict_that_keeps_happening_is_quarantined_with_its_reason(
    db_session, parse_memory, intake_settings, now, monkeypatch
):
    from sqlalchemy.exc import IntegrityError

    from ticketing.pipeline import CONFLICT_ATTEMPTS
    from ticketing.services import intake

    attempts = []

    def always(contact, **kwargs):
        attempts.append(contact)
        raise IntegrityError("INSERT INTO customer_identities", {}, Exception("duplicate"))

    monkeypatch.setattr(intake, "_receive", always)
    payload = json.dumps({"id": "m4", "from": "stuck@example.org", "text": "x"}).encode()

    outcome = ingest_raw("memory", payload, parse_memory, now=now, settings=intake_settings)

    assert len(attempts) == CONFLICT_ATTEMPTS
    assert outcome.outcome == "quarantined"
    assert outcome.reason.startswith("IntegrityError:")


def test_a_retry_after_a_conflict_stops_when_another_taker_finished_the_record(
    db_session, parse_memory, intake_settings, now, monkeypatch
):
    from sqlalchemy.exc import IntegrityError

    from ticketing.pipeline import process_record, store_raw
    from ticketing.services import intake

    payload = json.dumps({"id": "m5", "from": "twice@example.org", "text": "x"}).encode()
    record = store_raw("memory", payload, now=now)
    db_session.commit()
    record_id = record.id
    attempts = []

    def another_taker_wins(contact, **kwargs):
        attempts.append(contact)
        # Meanwhile the recovery sweep took the record in and committed...
        other = db_session.get(InboundRecord, record_id)
        other.status, other.outcome, other.reason = InboundStatus.processed, "created", "swept"
        db_session.commit()
        # ...and its customer is why this attempt fails.
        raise IntegrityError("INSERT INTO customer_identities", {}, Exception("duplicate"))

    monkeypatch.setattr(intake, "_receive", another_taker_wins)

    outcome = process_record(record, parse_memory, now=now, settings=intake_settings)

    assert len(attempts) == 1
    assert (outcome.outcome, outcome.reason) == ("created", "swept")
    assert db_session.get(InboundRecord, record_id).status == InboundStatus.processed


def test_a_batch_taken_in_at_once_costs_a_few_statements_not_a_few_per_record(
    db_session, stored, make_contact, intake_settings, caplog
):
    from ticketing.db import lock_for_writing
    from ticketing.pipeline import process_batch

    contacts = [make_contact(f"Klacht {number}: de levering is kwijt.",
                             sender=f"klant{number}@example.nl") for number in range(30)]
    stored(*contacts)
    # Loaded together in the write transaction, as `flask email ingest` loads a batch.
    lock_for_writing()
    records = list(db_session.scalars(sa.select(InboundRecord).order_by(InboundRecord.id)))
    statements = []
    engine = db_session.get_bind()

    def count(_conn, _cursor, statement, *_args):
        statements.append(" ".join(statement.split())[:80])

    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        outcomes = process_batch(records, stored.parse, settings=intake_settings)
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)

    assert [o.outcome for o in outcomes] == ["created"] * 30
    assert "record by record" not in caplog.text
    # Questions read up front, one flush for the batch, the clocks: record by record it was
    # about sixteen statements a record. SQLite cannot return the ids of a multi-row INSERT
    # in order, so there the ORM inserts row by row; the questions are still asked once.
    questions = [s for s in statements if not s.startswith("INSERT")]
    assert len(questions) < 20, "\n".join(questions)
    if engine.dialect.name == "postgresql":
        assert len(statements) < 30, "\n".join(statements)
