"""Twilio webhooks end to end: signed texts in, keywords, status callbacks, replies out."""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
import sqlalchemy as sa
from twilio.request_validator import RequestValidator
from werkzeug.middleware.proxy_fix import ProxyFix

from tests.conftest import throwaway_database
from tests.support.twilio_standin import TwilioStandIn
from ticketing.models import (
    Attachment,
    CustomerIdentity,
    DeliveryState,
    Direction,
    InboundRecord,
    InboundStatus,
    Message,
    OutboxMessage,
    OutboxStatus,
    Ticket,
    TicketEvent,
    TicketStatus,
)

CORPORA = Path(__file__).resolve().parents[3] / "shared" / "corpora"
COURIER = {
    payload["id"]: payload
    for payload in json.loads(
        (CORPORA / "nyaruka-courier-twilio-payloads" / "payloads.json").read_text()
    )["payloads"]
}
ZAMMAD_FILES = sorted((CORPORA / "zammad" / "twilio").glob("*.json"))

SMS_URL = "https://tickets.example.org/inbound/twilio/sms"
STATUS_URL = "https://tickets.example.org/inbound/twilio/status"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
ACCOUNT_SID = "AC" + "5" * 32
FROM_NUMBER = "+3197010000001"

_sids = iter(range(1, 1_000_000))


def new_sid(prefix: str = "SM") -> str:
    return f"{prefix}{next(_sids):032x}"


def sms_form(sender: str, body: str | None = "Mijn pakket is niet bezorgd", **fields: str):
    form = {
        "MessageSid": new_sid(),
        "AccountSid": ACCOUNT_SID,
        "From": sender,
        "To": FROM_NUMBER,
        "NumMedia": "0",
        "NumSegments": "1",
        "SmsStatus": "received",
        "ApiVersion": "2010-04-01",
    }
    if body is not None:
        form["Body"] = body
    form.update(fields)
    return form


def sign(app, url: str, form) -> str:
    return RequestValidator(app.config["TWILIO_AUTH_TOKEN"]).compute_signature(url, form)


def post_signed(client, app, form, *, path="/inbound/twilio/sms", url=SMS_URL, headers=None,
                base_url=None):
    all_headers = {"X-Twilio-Signature": sign(app, url, form), **(headers or {})}
    kwargs = {"base_url": base_url} if base_url else {}
    return client.post(path, data=form, headers=all_headers, **kwargs)


def post_status(client, app, **fields):
    return post_signed(client, app, fields, path="/inbound/twilio/status", url=STATUS_URL)


def message_by_sid(sid: str) -> Message | None:
    from ticketing.extensions import db

    return db.session.scalar(sa.select(Message).where(Message.external_id == sid))


def identity(address: str) -> CustomerIdentity | None:
    from ticketing.extensions import db

    return db.session.scalar(
        sa.select(CustomerIdentity).where(CustomerIdentity.address == address)
    )


def count(model, *conditions) -> int:
    from ticketing.extensions import db

    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*conditions))


# --- signature ----------------------------------------------------------------------------------


def test_signed_sms_creates_ticket_and_answers_empty_twiml(app, client):
    form = sms_form("+31612345001")

    response = post_signed(client, app, form)

    assert response.status_code == 200
    assert response.mimetype == "text/xml"
    assert response.get_data(as_text=True) == EMPTY_TWIML
    message = message_by_sid(form["MessageSid"])
    assert message is not None
    assert message.ticket.channel == "sms"
    assert message.identity.address == "+31612345001"
    assert message.inbound.status == InboundStatus.processed
    stored = dict(parse_qsl(message.inbound.payload.decode(), keep_blank_values=True))
    assert stored == form  # the raw form payload is kept as posted
    assert message.inbound.envelope["url"] == SMS_URL


@pytest.mark.parametrize(
    "signature",
    [
        pytest.param(None, id="missing"),
        pytest.param("not-a-signature", id="garbage"),
        pytest.param("signed-with-another-token", id="other-token"),
        pytest.param("signed-for-another-url", id="other-url"),
    ],
)
def test_bad_signature_gets_403_stores_nothing_and_logs(app, client, caplog, signature):
    form = sms_form("+31612345002")
    headers = {}
    if signature == "signed-with-another-token":
        headers["X-Twilio-Signature"] = RequestValidator("other").compute_signature(SMS_URL, form)
    elif signature == "signed-for-another-url":
        headers["X-Twilio-Signature"] = sign(app, "https://evil.example/inbound/twilio/sms", form)
    elif signature is not None:
        headers["X-Twilio-Signature"] = signature

    with caplog.at_level(logging.WARNING):
        response = client.post("/inbound/twilio/sms", data=form, headers=headers)

    assert response.status_code == 403
    assert count(InboundRecord) == 0
    assert count(Ticket) == 0
    assert identity("+31612345002") is None
    audit = [r for r in caplog.records if "webhook rejected" in r.getMessage()]
    assert len(audit) == 1
    assert ("missing" if signature is None else "invalid") in audit[0].getMessage()
    assert "127.0.0.1" in audit[0].getMessage()


def test_tampered_body_is_refused(app, client):
    form = sms_form("+31612345003", "Origineel")
    signature = sign(app, SMS_URL, form)
    form["Body"] = "Vervalst"

    response = client.post(
        "/inbound/twilio/sms", data=form, headers={"X-Twilio-Signature": signature}
    )

    assert response.status_code == 403
    assert count(Ticket) == 0


def test_without_public_base_url_the_request_url_is_signed(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "PUBLIC_BASE_URL", None)
    form = sms_form("+31612345004")

    response = post_signed(client, app, form, url="http://localhost/inbound/twilio/sms")

    assert response.status_code == 200
    assert message_by_sid(form["MessageSid"]) is not None


def test_forwarded_headers_are_ignored_without_a_trusted_proxy(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "PUBLIC_BASE_URL", None)
    form = sms_form("+31612345005")
    forged = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "tickets.example.com"}

    response = post_signed(
        client, app, form, url="https://tickets.example.com/inbound/twilio/sms", headers=forged
    )

    assert response.status_code == 403


def test_trusted_proxy_headers_rebuild_the_signed_url(app, client, monkeypatch):
    # TRUSTED_PROXY_COUNT=1 wraps the app in this ProxyFix at start-up.
    monkeypatch.setitem(app.config, "PUBLIC_BASE_URL", None)
    monkeypatch.setattr(app, "wsgi_app", ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1))
    form = sms_form("+31612345006")
    proxy = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "tickets.example.com",
             "X-Forwarded-For": "203.0.113.9"}

    response = post_signed(
        client, app, form, url="https://tickets.example.com/inbound/twilio/sms", headers=proxy,
        base_url="http://app:8000",
    )

    assert response.status_code == 200
    message = message_by_sid(form["MessageSid"])
    assert message.inbound.source == "203.0.113.9"


def test_public_base_url_with_port_accepts_twilio_signature_without_it(app, client, monkeypatch):
    # Twilio signs https URLs without the default port; the validator tries both forms.
    monkeypatch.setitem(app.config, "PUBLIC_BASE_URL", "https://tickets.example.org:443")
    form = sms_form("+31612345007")

    response = post_signed(client, app, form, url=SMS_URL)

    assert response.status_code == 200


def test_query_string_is_part_of_the_signed_url(app, client):
    form = sms_form("+31612345008")
    url = SMS_URL + "?channel=nl"

    accepted = post_signed(client, app, form, path="/inbound/twilio/sms?channel=nl", url=url)
    form_again = sms_form("+31612345008")
    refused = post_signed(client, app, form_again, path="/inbound/twilio/sms?channel=be", url=url)

    assert accepted.status_code == 200
    assert refused.status_code == 403


def test_unconfigured_sms_channel_answers_503(app, client, monkeypatch):
    from channels.registry import build_registry
    from ticketing.clock import utcnow

    monkeypatch.setitem(app.config, "TWILIO_AUTH_TOKEN", None)
    monkeypatch.setitem(app.extensions, "channels", build_registry(app.config, utcnow))

    response = client.post("/inbound/twilio/sms", data=sms_form("+31612345009"))

    assert response.status_code == 503
    assert count(InboundRecord) == 0


def test_oversized_post_is_refused_before_parsing(app, client):
    form = sms_form("+31612345010", "x" * 200_000)

    response = post_signed(client, app, form)

    assert response.status_code == 413
    assert count(InboundRecord) == 0


# --- corpora ------------------------------------------------------------------------------------


def _courier_form(payload_id: str) -> list[tuple[str, str]]:
    return parse_qsl(COURIER[payload_id]["form_body"], keep_blank_values=True)


@pytest.mark.parametrize(
    ("payload_id", "text", "media"),
    [
        ("receiveValid", "Msg", 0),
        ("receiveButtonIgnored", "Msg", 0),
        ("receiveMedia", "", 2),
        ("receiveMediaWithMsg", "Msg", 2),
        ("tmsReceiveExtra", "John Cruz", 0),  # to a short code through a Messaging Service
    ],
)
def test_courier_payload_through_the_webhook(app, client, payload_id, text, media):
    form = dict(_courier_form(payload_id))

    response = post_signed(client, app, form)

    assert response.status_code == 200
    message = message_by_sid(form["MessageSid"])
    assert message.text == text
    assert message.identity.address == form["From"]
    assert len(message.attachments) == media


@pytest.mark.parametrize("path", ZAMMAD_FILES, ids=lambda p: p.stem)
def test_zammad_payload_through_the_webhook(app, client, path):
    form = json.loads(path.read_text())

    response = post_signed(client, app, form)

    assert response.status_code == 200
    message = message_by_sid(form["MessageSid"])
    assert message.text == form["Body"]
    assert message.ticket.status == TicketStatus.new


def test_whatsapp_payload_is_quarantined_but_answered_200(app, client):
    form = dict(_courier_form("waReceiveValid"))

    response = post_signed(client, app, form)

    assert response.status_code == 200
    (record,) = _records()
    assert record.status == InboundStatus.quarantined
    assert "WhatsApp" in record.reason
    assert count(Ticket) == 0


def test_empty_text_without_media_is_quarantined_with_reason(app, client):
    form = sms_form("+31612345011", body="")

    response = post_signed(client, app, form)

    assert response.status_code == 200
    (record,) = _records()
    assert record.status == InboundStatus.quarantined
    assert record.reason == "empty message"


# --- idempotency --------------------------------------------------------------------------------


def test_retried_webhook_makes_one_message(app, client):
    form = sms_form("+31612345012")

    first = post_signed(client, app, form)
    second = post_signed(client, app, form)

    assert first.status_code == second.status_code == 200
    assert count(Message, Message.external_id == form["MessageSid"]) == 1
    statuses = sorted(r.status.value for r in _records())
    assert statuses == ["duplicate", "processed"]  # both raw payloads kept


def _records() -> list[InboundRecord]:
    from ticketing.extensions import db

    return list(db.session.scalars(sa.select(InboundRecord).order_by(InboundRecord.id)))


# --- intake by the worker -----------------------------------------------------------------------


@pytest.fixture
def queued(monkeypatch):
    """Hold back the worker: webhooks are stored and queued, and taken in only when asked."""
    import ticketing.web.inbound_sms as view

    waiting: list[int] = []
    monkeypatch.setattr(view, "queue_sms_intake", waiting.append)
    return waiting


def test_webhook_is_answered_once_stored_and_taken_in_as_of_its_arrival(app, client, queued):
    from ticketing.extensions import db
    from ticketing.sms_ingest import process_stored_sms

    form = sms_form("+31612345020")
    response = post_signed(client, app, form)

    assert response.status_code == 200
    (record,) = _records()
    assert queued == [record.id]
    assert record.status == InboundStatus.received
    assert message_by_sid(form["MessageSid"]) is None  # the answer did not wait for intake
    assert dict(record.envelope["form"])["Body"] == form["Body"]

    outcome = process_stored_sms(app, record.id)

    assert outcome is not None
    assert outcome.outcome == "created"
    db.session.refresh(record)
    message = message_by_sid(form["MessageSid"])
    assert record.status == InboundStatus.processed
    assert record.ticket_id == message.ticket_id
    # The customer reached us when the webhook arrived: that is when the clocks start.
    assert message.created_at == record.received_at
    assert message.ticket.opened_at == record.received_at
    assert record.processed_at >= record.received_at


def test_a_stored_webhook_is_taken_in_once(app, client, queued):
    from ticketing.sms_ingest import process_stored_sms

    form = sms_form("+31612345021")
    post_signed(client, app, form)

    first = process_stored_sms(app, queued[0])
    again = process_stored_sms(app, queued[0])  # a retried task, or the recovery sweep

    assert first is not None
    assert first.outcome == "created"
    assert again is None
    assert count(Message, Message.external_id == form["MessageSid"]) == 1


def test_texts_taken_in_later_keep_their_order_on_the_ticket(app, client, queued):
    from ticketing.sms_ingest import process_stored_sms

    first, second = sms_form("+31612345022"), sms_form("+31612345022", "Nog steeds niets")
    post_signed(client, app, first)
    post_signed(client, app, second)
    for record_id in queued:
        process_stored_sms(app, record_id)

    one, two = message_by_sid(first["MessageSid"]), message_by_sid(second["MessageSid"])
    assert one.ticket_id == two.ticket_id
    assert one.created_at < two.created_at


def test_one_task_takes_the_waiting_texts_in_together_oldest_first(app, client, queued):
    from ticketing.sms_ingest import take_in_waiting_sms

    forms = [sms_form("+31612345024", "Mijn internet ligt eruit"),
             sms_form("+31612345025", "Factuur klopt niet"),
             sms_form("+31612345024", "Nog steeds geen internet")]
    for form in forms:
        post_signed(client, app, form)

    # The last text's task runs first (tasks are not ordered), and takes all three along.
    outcomes = take_in_waiting_sms(app, queued[2])
    later_tasks = [take_in_waiting_sms(app, record_id) for record_id in queued[:2]]

    assert [o.record_id for o in outcomes] == sorted(queued)
    assert [o.outcome for o in outcomes] == ["created", "created", "appended"]
    assert later_tasks == [[], []]
    first, _, third = (message_by_sid(form["MessageSid"]) for form in forms)
    assert first.ticket_id == third.ticket_id
    assert first.created_at < third.created_at
    assert all(r.status == InboundStatus.processed for r in _records())
    assert third.created_at == next(r for r in _records() if r.id == queued[2]).received_at


def test_a_task_takes_at_most_a_batch_of_waiting_texts(app, client, queued):
    from ticketing.sms_ingest import take_in_waiting_sms

    for number in range(3):
        post_signed(client, app, sms_form(f"+3161234503{number}"))

    outcomes = take_in_waiting_sms(app, queued[0], limit=2)

    assert [o.record_id for o in outcomes] == queued[:2]
    assert [r.status for r in _records()] == [
        InboundStatus.processed, InboundStatus.processed, InboundStatus.received
    ]


def test_when_the_queue_is_down_the_webhook_is_still_held(app, client, monkeypatch, caplog):
    import ticketing.jobs_inbound as jobs_inbound

    def queue_down(_record_id):
        raise ConnectionError("redis is not answering")

    monkeypatch.setattr(jobs_inbound, "take_in_sms_task", queue_down)
    form = sms_form("+31612345023")
    with caplog.at_level(logging.ERROR, logger="ticketing.jobs_inbound"):
        response = post_signed(client, app, form)

    assert response.status_code == 200
    (record,) = _records()
    assert record.status == InboundStatus.received  # stored; the recovery sweep takes it in
    assert "recovery sweep" in caplog.text


@pytest.fixture
def live_database_url(database_url, tmp_path):
    """A database of its own for a live server, whose commits are real (no rollback)."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'race.db'}"
        return
    name = f"{sa.make_url(database_url).database}_sms_race"
    with throwaway_database(name, database_url) as url:
        yield url


@pytest.fixture
def live_server(live_database_url, tmp_path):
    """The app on its own database behind a threaded HTTP server on 127.0.0.1."""
    from werkzeug.serving import make_server

    from ticketing.app import create_app
    from ticketing.extensions import db

    live = create_app(
        "test",
        SQLALCHEMY_DATABASE_URI=live_database_url,
        ATTACHMENT_STORAGE_PATH=str(tmp_path / "attachments"),
    )
    with live.app_context():
        db.create_all()
    server = make_server("127.0.0.1", 0, live, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield live, server.server_port
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        with live.app_context():
            db.session.remove()
            db.engine.dispose()


def _post_together(app, port: int, forms: list[dict[str, str]]) -> list[int]:
    """POST every form at the same moment, one connection each; return the statuses."""
    import http.client
    from urllib.parse import urlencode

    barrier = threading.Barrier(len(forms))
    statuses: list[int] = []

    def post(form: dict[str, str]) -> None:
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": sign(app, SMS_URL, form),
        }
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            barrier.wait(timeout=10)
            connection.request("POST", "/inbound/twilio/sms", urlencode(form), headers)
            response = connection.getresponse()
            response.read()
            statuses.append(response.status)
        finally:
            connection.close()

    workers = [threading.Thread(target=post, args=(form,)) for form in forms]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    return statuses


def _live_counts(app) -> dict[str, int]:
    from ticketing.extensions import db

    with app.app_context():
        counts = {
            name: db.session.scalar(sa.select(sa.func.count()).select_from(model))
            for name, model in (("messages", Message), ("tickets", Ticket),
                                ("records", InboundRecord))
        }
        counts["quarantined"] = db.session.scalar(
            sa.select(sa.func.count()).select_from(InboundRecord).where(
                InboundRecord.status == InboundStatus.quarantined)
        )
        db.session.remove()
    return counts


def test_simultaneous_duplicates_make_one_message(live_server):
    app, port = live_server
    form = sms_form("+31612345013")

    statuses = _post_together(app, port, [form] * 8)

    assert statuses == [200] * 8
    counts = _live_counts(app)
    assert counts == {"messages": 1, "tickets": 1, "records": 8, "quarantined": 0}


def test_simultaneous_first_texts_from_one_number_are_all_taken_in(live_server):
    # Each races to create the same new customer; the losers are taken in again, not lost.
    app, port = live_server
    forms = [sms_form("+31612345014", f"Bericht {n}") for n in range(6)]

    statuses = _post_together(app, port, forms)

    assert statuses == [200] * 6
    counts = _live_counts(app)
    assert counts["messages"] == 6
    assert counts["quarantined"] == 0


# --- keywords -----------------------------------------------------------------------------------


@pytest.mark.parametrize("word", ["STOP", "stopall", "Unsubscribe", "CANCEL", "end", " QUIT "])
def test_opt_out_keyword_records_opt_out_on_the_number(app, client, word):
    number = "+31612345020"
    post_signed(client, app, sms_form(number, "Waar blijft mijn pakket?"))

    response = post_signed(client, app, sms_form(number, word))

    assert response.status_code == 200
    phone = identity(number)
    assert phone.is_opted_out
    assert word.strip() in phone.opt_out_reason
    ticket = phone.customer.tickets[0]
    assert count(TicketEvent, TicketEvent.ticket_id == ticket.id,
                 TicketEvent.type == "optout.changed") == 1
    assert ticket.contact_count == 1  # a keyword is not a complaint


@pytest.mark.parametrize("word", ["START", "unstop", "Yes"])
def test_opt_in_keyword_clears_the_opt_out(app, client, word):
    number = "+31612345021"
    post_signed(client, app, sms_form(number, "STOP"))
    assert identity(number).is_opted_out

    post_signed(client, app, sms_form(number, word))

    assert not identity(number).is_opted_out


def test_help_keyword_changes_nothing(app, client):
    number = "+31612345022"
    post_signed(client, app, sms_form(number, "HELP"))

    phone = identity(number)
    assert phone is not None
    assert not phone.is_opted_out
    assert count(Ticket) == 0


def test_stop_without_a_ticket_is_recorded_without_one(app, client):
    number = "+31612345023"

    response = post_signed(client, app, sms_form(number, "STOP"))

    assert response.status_code == 200
    assert identity(number).is_opted_out
    assert count(Ticket) == 0
    assert _records()[0].status == InboundStatus.ignored


def test_reply_to_opted_out_number_is_refused_with_the_date(app, client):
    from ticketing.services.sms import SmsRefused, prepare_sms_reply

    number = "+31612345024"
    post_signed(client, app, sms_form(number, "Mijn factuur klopt niet"))
    post_signed(client, app, sms_form(number, "STOP"))
    ticket = identity(number).customer.tickets[0]

    with pytest.raises(SmsRefused, match=r"\+31612345024 opted out of text messages on 20\d\d-"):
        prepare_sms_reply(ticket, "Wij hebben uw factuur gecorrigeerd.")


# --- text and media -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        pytest.param("Pakket kapot 😡📦 — échte schade!", id="emoji-ucs2"),
        pytest.param("Ω" * 1600, id="1600-ucs2"),
        pytest.param(("Mijn pakket is weer niet bezorgd. " * 50)[:1600], id="1600-gsm"),
        pytest.param("  ingesprongen\nregel twee\n", id="whitespace-kept"),
    ],
)
def test_body_is_kept_exactly(app, client, body):
    form = sms_form("+31612345030", body)

    response = post_signed(client, app, form)

    assert response.status_code == 200
    message = message_by_sid(form["MessageSid"])
    assert message.text == body
    assert message.new_text == body


def test_mms_without_body_records_media_as_attachments(app, client):
    sid = new_sid("MM")
    media_url = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}/Media/"
    form = sms_form(
        "+31612345031",
        body=None,
        MessageSid=sid,
        NumMedia="2",
        MediaUrl0=media_url + "ME" + "1" * 32,
        MediaContentType0="image/jpeg",
        MediaUrl1=media_url + "ME" + "2" * 32,
        MediaContentType1="video/mp4",
    )

    response = post_signed(client, app, form)

    assert response.status_code == 200
    message = message_by_sid(sid)
    assert message.text == ""
    attachments = message.attachments
    assert [(a.url, a.content_type) for a in attachments] == [
        (form["MediaUrl0"], "image/jpeg"),
        (form["MediaUrl1"], "video/mp4"),
    ]
    # No Twilio account SID in the test config: the URLs wait for a fetch, nothing failed.
    assert all(a.sha256 is None and a.error is None for a in attachments)


# --- threading through the webhook --------------------------------------------------------------


def test_second_text_appends_to_the_open_ticket(app, client):
    number = "+31612345040"
    post_signed(client, app, sms_form(number, "Mijn pakket is niet bezorgd"))
    post_signed(client, app, sms_form(number, "Nog een vraag over de levering"))

    tickets = identity(number).customer.tickets
    assert len(tickets) == 1
    assert tickets[0].contact_count == 2


# --- acknowledgement ----------------------------------------------------------------------------


def _acknowledgements(number: str) -> list[OutboxMessage]:
    from ticketing.extensions import db

    return list(
        db.session.scalars(
            sa.select(OutboxMessage).where(
                OutboxMessage.recipient == number, OutboxMessage.purpose == "acknowledgement"
            )
        )
    )


def test_sms_acknowledgement_is_off_by_default(app, client):
    assert app.config["SMS_ACKNOWLEDGEMENT"] is False
    number = "+31612345050"

    post_signed(client, app, sms_form(number))

    assert _acknowledgements(number) == []


def test_sms_acknowledgement_when_enabled_names_the_ticket(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "SMS_ACKNOWLEDGEMENT", True)
    number = "+31612345051"

    post_signed(client, app, sms_form(number))
    post_signed(client, app, sms_form(number, "En nog iets"))  # appended: no second one

    (ack,) = _acknowledgements(number)
    ticket = identity(number).customer.tickets[0]
    assert ack.channel == "sms"
    assert ticket.reference in ack.payload["text"]
    # kicked after commit; without a Twilio account it lands in the development outbox
    assert ack.status == OutboxStatus.sent
    assert ack.delivered_via == "dev"


@pytest.mark.parametrize(
    ("language", "number", "words"),
    [("nl", "+31612345053", "ontvangen"), ("en", "+31612345054", "received")],
)
def test_sms_acknowledgement_is_bilingual(app, client, monkeypatch, language, number, words):
    monkeypatch.setitem(app.config, "SMS_ACKNOWLEDGEMENT", True)
    monkeypatch.setitem(app.config, "BABEL_DEFAULT_LOCALE", language)

    post_signed(client, app, sms_form(number, "12345"))  # no words to detect a language from

    (ack,) = _acknowledgements(number)
    assert words in ack.payload["text"]


def test_sms_acknowledgement_never_goes_to_an_opted_out_number(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "SMS_ACKNOWLEDGEMENT", True)
    number = "+31612345052"
    post_signed(client, app, sms_form(number, "STOP"))

    post_signed(client, app, sms_form(number, "Toch nog een klacht"))

    assert identity(number).customer.tickets  # the complaint is taken in
    assert _acknowledgements(number) == []


# --- status callbacks ---------------------------------------------------------------------------


def _sent_sms(client, app, number: str, sid: str) -> Message:
    """A reply we sent on a ticket opened by a text, as the outbox records it."""
    from ticketing.extensions import db

    form = sms_form(number)
    assert post_signed(client, app, form).status_code == 200
    inbound = message_by_sid(form["MessageSid"])
    reply = Message(
        ticket=inbound.ticket, direction=Direction.outbound, channel="sms", kind="message",
        identity=inbound.identity, text="Wij zoeken het uit.", provider_id=sid,
        delivery_state=DeliveryState.sent, created_at=datetime(2026, 3, 2, 10, tzinfo=UTC),
    )
    db.session.add(reply)
    db.session.commit()
    return reply


def test_status_callback_requires_a_signature(app, client):
    response = client.post(
        "/inbound/twilio/status", data={"MessageSid": new_sid(), "MessageStatus": "delivered"}
    )

    assert response.status_code == 403


def test_status_callback_moves_state_forward_and_ignores_late_news(app, client):
    sid = new_sid()
    reply = _sent_sms(client, app, "+31612345060", sid)

    delivered = post_status(client, app, MessageSid=sid, MessageStatus="delivered",
                            To="+31612345060")
    late_sent = post_status(client, app, MessageSid=sid, MessageStatus="sent")
    repeated = post_status(client, app, MessageSid=sid, MessageStatus="delivered")

    assert (delivered.status_code, late_sent.status_code, repeated.status_code) == (204,) * 3
    from ticketing.extensions import db

    db.session.refresh(reply)
    assert reply.delivery_state == DeliveryState.delivered


def test_status_callback_records_error_code_and_21610_opt_out(app, client):
    sid = new_sid()
    number = "+31612345061"
    reply = _sent_sms(client, app, number, sid)

    response = post_status(client, app, MessageSid=sid, MessageStatus="failed",
                           ErrorCode="21610", To=number)

    assert response.status_code == 204
    from ticketing.extensions import db

    db.session.refresh(reply)
    assert reply.delivery_state == DeliveryState.failed
    assert reply.delivery_error_code == "21610"
    assert "opted out" in reply.delivery_error
    assert identity(number).is_opted_out


def test_courier_status_stop_payload_records_opt_out(app, client):
    form = dict(_courier_form("statusStop"))
    number = form["To"]
    _sent_sms(client, app, number, form["MessageSid"])

    response = post_status(client, app, **form)

    assert response.status_code == 204
    assert identity(number).is_opted_out


def test_unknown_status_is_refused_with_400(app, client, caplog):
    form = dict(_courier_form("statusInvalid"))

    with caplog.at_level(logging.WARNING):
        response = post_status(client, app, **form)

    assert response.status_code == 400
    assert "huh" in response.get_json()["detail"]
    assert any("status callback refused" in r.getMessage() for r in caplog.records)


def test_status_for_a_message_we_do_not_know_is_accepted(app, client):
    response = post_status(client, app, MessageSid=new_sid(), MessageStatus="delivered")

    assert response.status_code == 204


# --- outbound through the outbox and the Twilio client -------------------------------------------


@pytest.fixture
def twilio(app, monkeypatch):
    """The app pointed at a local Twilio stand-in, with a real account configuration."""
    from channels.registry import build_registry
    from ticketing.clock import utcnow

    with TwilioStandIn(ACCOUNT_SID, app.config["TWILIO_AUTH_TOKEN"]) as standin:
        monkeypatch.setitem(app.config, "TWILIO_ACCOUNT_SID", ACCOUNT_SID)
        monkeypatch.setitem(app.config, "TWILIO_FROM_NUMBER", FROM_NUMBER)
        monkeypatch.setitem(app.config, "TWILIO_API_BASE_URL", standin.url)
        registry = build_registry(app.config, utcnow)
        monkeypatch.setitem(app.extensions, "channels", registry)
        try:
            yield standin
        finally:
            registry.get("sms").close()


def _queue_reply(client, app, number: str, text: str = "Uw pakket komt morgen.") -> Message:
    """Take in a text, then queue an SMS reply as the agent reply service will."""
    from ticketing.extensions import db
    from ticketing.services import outbox
    from ticketing.services.sms import prepare_sms_reply

    form = sms_form(number)
    assert post_signed(client, app, form).status_code == 200
    ticket = message_by_sid(form["MessageSid"]).ticket
    outbound = prepare_sms_reply(ticket, text)
    now = datetime(2026, 3, 2, 10, tzinfo=UTC)
    reply = Message(ticket=ticket, direction=Direction.outbound, channel="sms",
                    identity=identity(number), text=text, new_text=text, created_at=now)
    db.session.add(reply)
    db.session.flush()
    outbox.enqueue(outbound, now=now, ticket=ticket, message=reply)
    db.session.commit()
    return reply


def test_reply_is_sent_through_twilio_and_tracked_to_delivered(app, client, twilio):
    from ticketing.extensions import db
    from ticketing.jobs import deliver_outbox

    number = "+31612345070"
    reply = _queue_reply(client, app, number)

    summary = deliver_outbox()

    assert summary["sent"] == 1
    (request,) = twilio.requests
    assert request.auth == (ACCOUNT_SID, app.config["TWILIO_AUTH_TOKEN"])
    assert request.field("To") == number
    assert request.field("From") == FROM_NUMBER
    assert request.field("Body") == "Uw pakket komt morgen."
    assert request.field("StatusCallback") == STATUS_URL
    db.session.refresh(reply)
    assert reply.delivery_state == DeliveryState.sent
    assert reply.provider_id.startswith("SM")

    assert post_status(client, app, MessageSid=reply.provider_id, MessageStatus="delivered",
                       To=number).status_code == 204
    assert post_status(client, app, MessageSid=reply.provider_id, MessageStatus="sent",
                       To=number).status_code == 204
    db.session.refresh(reply)
    assert reply.delivery_state == DeliveryState.delivered


def test_twilio_outage_schedules_a_retry(app, client, twilio):
    from ticketing.extensions import db
    from ticketing.jobs import deliver_outbox

    reply = _queue_reply(client, app, "+31612345071")
    twilio.fail_next(500)

    summary = deliver_outbox()

    assert summary["retrying"] == 1
    row = db.session.scalar(sa.select(OutboxMessage).where(OutboxMessage.message_id == reply.id))
    assert row.status == OutboxStatus.pending
    assert row.attempts == 1
    assert row.next_attempt_at > datetime.now(UTC)
    assert "500" in row.last_error


def test_twilio_21610_on_send_fails_permanently_and_records_the_opt_out(app, client, twilio):
    from ticketing.extensions import db
    from ticketing.jobs import deliver_outbox

    number = "+31612345072"
    reply = _queue_reply(client, app, number)
    twilio.fail_next(400, 21610)

    summary = deliver_outbox()

    assert summary["failed"] == 1
    db.session.refresh(reply)
    assert reply.delivery_state == DeliveryState.failed
    assert "21610" in reply.delivery_error
    assert identity(number).is_opted_out, (
        "needs the jobs.deliver_outbox hook: services.sms.apply_send_receipt after record_receipt"
    )


def test_reply_queued_before_stop_is_not_sent(app, client, twilio):
    from ticketing.extensions import db
    from ticketing.jobs import deliver_outbox

    number = "+31612345073"
    reply = _queue_reply(client, app, number)
    post_signed(client, app, sms_form(number, "STOP"))
    twilio.clear()

    deliver_outbox()

    assert twilio.requests == [], (
        "needs the jobs.deliver_outbox hook: services.sms.opt_out_refusal before sending"
    )
    db.session.refresh(reply)
    assert reply.delivery_state == DeliveryState.failed
    assert "opted out" in reply.delivery_error


def test_mms_media_fetched_after_the_webhook_when_credentials_allow(app, client, twilio,
                                                                    media_server, monkeypatch):
    from ticketing.services.attachments import AttachmentStore

    monkeypatch.setitem(app.config, "TWILIO_API_BASE_URL", media_server.url)
    sid = new_sid("MM")
    url = (f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}/Media/"
           "ME" + "a" * 32)
    form = sms_form("+31612345074", body=None, MessageSid=sid, NumMedia="1", MediaUrl0=url,
                    MediaContentType0="image/jpeg")

    response = post_signed(client, app, form)

    assert response.status_code == 200
    (attachment,) = message_by_sid(sid).attachments
    assert attachment.error is None
    assert attachment.size == len(media_server.content)
    store = AttachmentStore(app.config["ATTACHMENT_STORAGE_PATH"])
    assert store.get(attachment.sha256) == media_server.content


def test_mms_media_fetch_failure_is_recorded_and_the_message_kept(app, client, twilio,
                                                                   media_server, monkeypatch):
    monkeypatch.setitem(app.config, "TWILIO_API_BASE_URL", media_server.url)
    sid = new_sid("MM")
    url = (f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}/Media/"
           "missing")
    form = sms_form("+31612345075", "Foto van de schade", MessageSid=sid, NumMedia="1",
                    MediaUrl0=url, MediaContentType0="image/png")

    response = post_signed(client, app, form)

    assert response.status_code == 200
    message = message_by_sid(sid)
    assert message.text == "Foto van de schade"
    (attachment,) = message.attachments
    assert attachment.sha256 is None
    assert "HTTP 404" in attachment.error
    assert count(Attachment) == 1


@pytest.fixture
def media_server():
    from tests.services.test_sms_service import MediaServer

    with MediaServer() as server:
        yield server
