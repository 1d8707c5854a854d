"""The public complaint form: languages, validation, storage first, intake, hostile input."""

from __future__ import annotations

import json
import re
import uuid
from io import BytesIO
from typing import Any

import flask_babel
import pytest
import sqlalchemy as sa
from flask import g
from flask.testing import FlaskClient

from ticketing.models import (
    Attachment,
    CustomerIdentity,
    InboundRecord,
    InboundStatus,
    Message,
    OutboxMessage,
    Ticket,
)

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00"
    b"\x00\x00IEND\xaeB`\x82"
)
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << >>\n%%EOF\n"
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


class FreshRequestClient(FlaskClient):
    """A test client whose every request starts with a fresh locale and no page policy.

    The shared `db_session` fixture keeps one app context, and so one `g`, for the whole test;
    Flask-Babel caches the chosen locale in `g`, which would pin the first request's language.
    """

    def open(self, *args: Any, **kwargs: Any) -> Any:
        flask_babel.refresh()
        g.pop("content_security_policy", None)
        return super().open(*args, **kwargs)


@pytest.fixture
def client(app, db_session):
    return FreshRequestClient(app, app.response_class, use_cookies=True)


def _submission_id(client: Any, path: str = "/complaint") -> str:
    html = client.get(path).get_data(as_text=True)
    match = re.search(r'name="submission_id" type="hidden" value="([0-9a-f-]{36})"', html)
    assert match, "the form carries a server-made submission id"
    return match.group(1)


def _valid_fields(**overrides: Any) -> dict[str, Any]:
    fields = {
        "submission_id": str(uuid.uuid4()),
        "name": "Anna de Vries",
        "email": "anna@example.nl",
        "phone": "",
        "category": "delivery",
        "order_number": "ORD-42",
        "message": "Mijn pakket is niet bezorgd.",
        "website": "",
    }
    fields.update(overrides)
    return fields


def _post(client: Any, **overrides: Any) -> Any:
    return client.post(
        "/complaint", data=_valid_fields(**overrides), content_type="multipart/form-data"
    )


def _summary_links(html: str) -> list[tuple[str, str]]:
    summary = html.split('class="error-summary"', 1)[1].split("</div>", 1)[0]
    return re.findall(r'<a href="#([^"]+)">([^<]+)</a>', summary)


def _count(db_session: Any, model: Any) -> int:
    return db_session.scalar(sa.select(sa.func.count()).select_from(model))


def _ticket_for(db_session: Any, submission_id: str) -> Ticket:
    message = db_session.scalar(
        sa.select(Message).where(Message.channel == "web", Message.external_id == submission_id)
    )
    assert message is not None
    return message.ticket


# --- languages, headers, markup -------------------------------------------------------------


def test_the_form_speaks_dutch_to_a_dutch_browser(client):
    html = client.get("/complaint", headers={"Accept-Language": "nl-NL,nl;q=0.9,en;q=0.5"}).text
    assert '<html lang="nl">' in html
    assert "Dien een klacht in" in html
    assert ">Bezorging</option>" in html
    assert ">Factuur of betaling</option>" in html


def test_the_form_speaks_english_to_an_english_browser(client):
    html = client.get("/complaint", headers={"Accept-Language": "en-GB,en;q=0.9"}).text
    assert '<html lang="en">' in html
    assert "Submit a complaint" in html
    assert ">Invoice or payment</option>" in html


def test_the_language_switch_wins_over_the_browser_and_is_remembered(client):
    assert "Submit a complaint" in client.get("/complaint?lang=en",
                                              headers={"Accept-Language": "nl"}).text
    assert "Submit a complaint" in client.get("/complaint", headers={"Accept-Language": "nl"}).text
    html = client.get("/complaint?lang=nl").text
    assert 'href="/complaint?lang=en" lang="en" hreflang="en"' in html
    assert 'lang="nl" hreflang="nl" aria-current="true"' in html


def test_public_pages_send_a_strict_policy_and_are_never_cached(client):
    response = client.get("/complaint")
    csp = response.headers["Content-Security-Policy"]
    for directive in ("default-src 'none'", "style-src 'self'", "img-src 'self'",
                      "form-action 'self'", "frame-ancestors 'none'", "base-uri 'none'"):
        assert directive in csp
    assert "script-src" not in csp
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    html = response.text
    assert "<script" not in html
    assert "style=" not in html
    assert "http://" not in html
    assert "https://" not in html


def test_every_field_has_a_label_and_the_honeypot_is_hidden_from_people(client):
    html = client.get("/complaint").text
    for field in ("name", "email", "phone", "category", "order_number", "message",
                  "attachments"):
        assert f'<label for="{field}">' in html
        assert f'id="{field}"' in html
    honeypot = html.split('<div class="hp" aria-hidden="true">', 1)[1].split("</div>", 1)[0]
    assert 'name="website"' in honeypot
    assert 'tabindex="-1"' in honeypot
    assert 'autocomplete="off"' in honeypot


# --- a good submission ------------------------------------------------------------------------


def test_a_complaint_is_stored_raw_then_becomes_a_ticket_with_a_tracking_link(client, db_session):
    submission_id = _submission_id(client)
    response = _post(client, submission_id=submission_id, phone="06 12345678",
                     attachments=[(BytesIO(PNG), "pakket foto.png")])
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/complaint/received/{submission_id}")

    page = client.get(response.headers["Location"])
    ticket = _ticket_for(db_session, submission_id)
    assert ticket.reference in page.text
    match = re.search(r'id="tracking-link" href="([^"]+)"', page.text)
    assert match
    assert match.group(1).startswith("https://tickets.example.org/track/")
    assert page.headers["Cache-Control"] == "no-store"

    record = db_session.scalar(sa.select(InboundRecord).where(InboundRecord.ticket_id == ticket.id))
    assert record.channel == "web"
    assert record.status == InboundStatus.processed
    document = json.loads(record.payload)
    assert document["format"] == "ticketing.webform/1"
    assert document["fields"]["submission_id"] == submission_id
    assert document["fields"]["message"] == "Mijn pakket is niet bezorgd."
    [stored_file] = document["attachments"]
    assert stored_file["filename"] == "pakket foto.png"
    assert stored_file["size"] == len(PNG)

    message = ticket.messages[0]
    assert ticket.channel == "web"
    assert message.meta["category"] == "delivery"
    assert message.meta["order_number"] == "ORD-42"
    assert [(a.filename, a.content_type, a.size) for a in message.attachments] == [
        ("pakket foto.png", "image/png", len(PNG))
    ]


def test_the_stored_record_can_be_processed_again_from_its_payload(client, db_session):
    from ticketing.web.public import parse_web_record

    submission_id = _submission_id(client)
    _post(client, submission_id=submission_id, attachments=[(BytesIO(PDF), "factuur.pdf")])
    record = db_session.scalar(
        sa.select(InboundRecord).order_by(InboundRecord.id.desc()).limit(1)
    )
    [contact] = parse_web_record(record)
    assert contact.external_id == submission_id
    assert contact.sender.address == "anna@example.nl"
    assert contact.received_at == record.received_at
    assert contact.attachments[0].data == PDF
    assert contact.metadata["category"] == "delivery"


def test_sending_the_same_form_twice_makes_one_ticket(client, db_session):
    submission_id = _submission_id(client)
    first = _post(client, submission_id=submission_id)
    second = _post(client, submission_id=submission_id)
    assert first.status_code == second.status_code == 303
    assert db_session.scalar(
        sa.select(sa.func.count()).select_from(Message).where(Message.external_id == submission_id)
    ) == 1
    records = db_session.scalars(
        sa.select(InboundRecord).order_by(InboundRecord.id.desc()).limit(2)
    ).all()
    assert [r.status for r in records] == [InboundStatus.duplicate, InboundStatus.processed]
    page = client.get(second.headers["Location"]).text
    assert _ticket_for(db_session, submission_id).reference in page
    assert 'id="tracking-link"' in page  # the first answer is kept for this browser


def test_email_and_phone_given_together_are_one_customer(client, db_session):
    submission_id = _submission_id(client)
    _post(client, submission_id=submission_id, email="Piet@Example.NL", phone="06 87654321")
    ticket = _ticket_for(db_session, submission_id)
    addresses = {(i.kind, i.address) for i in ticket.customer.identities}
    assert addresses == {("email", "piet@example.nl"), ("phone", "+31687654321")}
    assert db_session.scalar(
        sa.select(sa.func.count(sa.distinct(CustomerIdentity.customer_id))).where(
            CustomerIdentity.address.in_(["piet@example.nl", "+31687654321"])
        )
    ) == 1


def test_the_acknowledgement_goes_by_email_when_an_address_is_given(client, db_session):
    submission_id = _submission_id(client)
    _post(client, submission_id=submission_id, email="ack@example.nl", phone="06 11112222")
    ticket = _ticket_for(db_session, submission_id)
    rows = db_session.scalars(sa.select(OutboxMessage).where(OutboxMessage.ticket_id == ticket.id))
    [row] = rows.all()
    assert (row.channel, row.purpose, row.recipient) == ("email", "acknowledgement",
                                                         "ack@example.nl")
    assert ticket.reference in row.payload["text"]
    # kick_outbox ran after the commit (tasks run inline in tests): already handed over.
    assert row.status.value == "sent"


def test_the_acknowledgement_goes_by_text_when_only_a_phone_is_given(client, db_session):
    submission_id = _submission_id(client)
    response = _post(client, submission_id=submission_id, email="", phone="+31 6 33334444")
    ticket = _ticket_for(db_session, submission_id)
    [row] = db_session.scalars(
        sa.select(OutboxMessage).where(OutboxMessage.ticket_id == ticket.id)
    ).all()
    assert (row.channel, row.recipient) == ("sms", "+31633334444")
    page = client.get(response.headers["Location"], headers={"Accept-Language": "en"}).text
    assert "by text message" in page


def test_a_message_added_to_an_open_complaint_does_not_reveal_its_reference(client,
                                                                            db_session):
    first_id = _submission_id(client)
    _post(client, submission_id=first_id, message="De wasmachine lekt water.")
    first_ticket = _ticket_for(db_session, first_id)
    stranger = FreshRequestClient(client.application, client.application.response_class)
    second_id = _submission_id(stranger)
    response = _post(stranger, submission_id=second_id, message="De wasmachine lekt water.")
    assert _ticket_for(db_session, second_id).id == first_ticket.id  # intake appended it
    page = stranger.get(response.headers["Location"], headers={"Accept-Language": "en"}).text
    assert "added it to the complaint you already have with us" in page
    assert first_ticket.reference not in page
    assert "tracking-link" not in page


def test_the_confirmation_page_belongs_to_the_browser_that_sent_the_form(client):
    response = client.get(f"/complaint/received/{uuid.uuid4()}")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/complaint")


# --- validation: friendly errors that keep what was typed -----------------------------------


def test_errors_are_summarised_on_top_and_what_was_typed_is_kept(client, db_session):
    before = _count(db_session, InboundRecord)
    response = client.post(
        "/complaint?lang=en",
        data=_valid_fields(email="not-an-address", message="Kapot & stuk <b>",
                           order_number="12 / 34"),
    )
    assert response.status_code == 422
    html = response.text
    assert _summary_links(html) == [
        ("email", "Enter an e-mail address like name@example.com, or leave it empty.")
    ]
    assert 'value="not-an-address"' in html
    assert 'aria-invalid="true"' in html
    assert 'aria-describedby="email-error"' in html
    assert "Kapot &amp; stuk &lt;b&gt;</textarea>" in html
    assert 'value="12 / 34"' in html
    assert "<title>Error: " in html
    assert _count(db_session, InboundRecord) == before


def test_an_email_address_or_a_phone_number_is_required(client):
    html = client.post("/complaint?lang=en", data=_valid_fields(email="", phone="")).text
    assert _summary_links(html) == [
        ("email", "Give an e-mail address or a phone number, so we can answer you.")
    ]


def test_a_wrong_phone_number_is_explained(client):
    html = client.post("/complaint?lang=en", data=_valid_fields(phone="12")).text
    assert ("phone", "Enter a phone number like 06 12345678 or +31 6 12345678, or leave it "
            "empty.") in _summary_links(html)


def test_errors_are_in_dutch_for_a_dutch_customer(client):
    html = client.post("/complaint?lang=nl", data=_valid_fields(name="", category="")).text
    assert _summary_links(html) == [
        ("name", "Vul uw naam in, zodat wij weten hoe wij u kunnen aanspreken."),
        ("category", "Kies waar uw klacht over gaat."),
    ]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name", "N" * 201, "Your name can be at most 200 characters."),
        ("email", "a" * 250 + "@example.nl", "An e-mail address can be at most 254 characters."),
        ("phone", "0" * 41, "A phone number can be at most 40 characters."),
        ("order_number", "9" * 65, "An order number can be at most 64 characters."),
        ("message", "x" * 20_001, "Your message can be at most 20000 characters. Please "
                                  "shorten it, or attach a document."),
    ],
)
def test_oversized_fields_are_refused_with_a_friendly_error(client, db_session, field, value,
                                                            message):
    before = _count(db_session, InboundRecord)
    response = client.post("/complaint?lang=en", data=_valid_fields(**{field: value}))
    assert response.status_code == 422
    assert (field, message) in _summary_links(response.text)
    assert _count(db_session, InboundRecord) == before


def test_a_category_outside_the_list_is_refused(client):
    html = client.post("/complaint?lang=en", data=_valid_fields(category="<b>other</b>")).text
    assert _summary_links(html) == [("category", "Choose what your complaint is about.")]


# --- attachments --------------------------------------------------------------------------------


def test_more_than_five_files_are_refused(client):
    files = [(BytesIO(PNG), f"foto{n}.png") for n in range(6)]
    response = _post(client, attachments=files)
    assert response.status_code == 422
    links = _summary_links(response.text)
    assert ("attachments", "U kunt hoogstens 5 bestanden toevoegen.") in links
    assert ("attachments", "Kies uw bestanden opnieuw: browsers onthouden ze niet na een "
            "fout.") in links


def test_a_file_over_the_size_limit_is_refused(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "ATTACHMENT_MAX_BYTES", 1024)
    response = client.post(
        "/complaint?lang=en",
        data={**_valid_fields(), "attachments": [(BytesIO(b"%PDF-" + b"0" * 2000), "big.pdf")]},
    )
    assert response.status_code == 422
    assert ("attachments", "big.pdf is larger than 1 kB.") in _summary_links(response.text)


@pytest.mark.parametrize(
    ("filename", "content", "expected"),
    [
        ("setup.exe", b"MZ\x90\x00", "setup.exe is not a type of file we accept."),
        ("invoice.pdf", b"MZ\x90\x00 not a pdf", "invoice.pdf does not contain what its name "
                                                 "says (.pdf)."),
        ("photo.jpg", PNG, "photo.jpg does not contain what its name says (.jpg)."),
        ("empty.txt", b"", "empty.txt is empty."),
    ],
)
def test_files_of_the_wrong_kind_are_refused(client, filename, content, expected):
    response = client.post(
        "/complaint?lang=en",
        data={**_valid_fields(), "attachments": [(BytesIO(content), filename)]},
    )
    assert response.status_code == 422
    [(anchor, text)] = [link for link in _summary_links(response.text)
                        if link[0] == "attachments" and "again" not in link[1]]
    assert text.startswith(expected)


def test_office_documents_text_and_pdf_are_accepted(client, db_session):
    submission_id = _submission_id(client)
    docx = b"PK\x03\x04" + b"\x00" * 40
    response = client.post("/complaint", data={
        **_valid_fields(submission_id=submission_id),
        "attachments": [(BytesIO(PDF), "../../etc/factuur.pdf"),
                        (BytesIO(b"regel 1\nregel 2\n"), "notities.txt"),
                        (BytesIO(docx), "brief.DOCX")],
    })
    assert response.status_code == 303
    stored = db_session.scalars(
        sa.select(Attachment).join(Message).where(Message.external_id == submission_id)
        .order_by(Attachment.id)
    ).all()
    assert [(a.filename, a.content_type) for a in stored] == [
        ("factuur.pdf", "application/pdf"),
        ("notities.txt", "text/plain"),
        ("brief.docx",
         "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    ]


def test_a_request_over_the_upload_limit_gets_a_friendly_page(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 4096)
    response = client.post("/complaint?lang=en", data={
        **_valid_fields(), "attachments": [(BytesIO(b"%PDF-" + b"0" * 8000), "scan.pdf")]})
    assert response.status_code == 413
    assert "Your files are too large together" in response.text
    assert "4 kB" in response.text
    assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")


# --- hostile input ----------------------------------------------------------------------------


def test_a_filled_honeypot_is_quarantined_not_lost(client, db_session):
    tickets_before = _count(db_session, Ticket)
    submission_id = _submission_id(client)
    response = _post(client, submission_id=submission_id, website="http://spam.example/buy")
    assert response.status_code == 303
    page = client.get(response.headers["Location"], headers={"Accept-Language": "en"}).text
    assert "Thank you for your message" in page
    assert not re.search(r"T-\d+", page)
    assert "tracking-link" not in page
    record = db_session.scalar(sa.select(InboundRecord).order_by(InboundRecord.id.desc()).limit(1))
    assert record.status == InboundStatus.quarantined
    assert "honeypot" in record.reason
    assert json.loads(record.payload)["fields"]["message"] == "Mijn pakket is niet bezorgd."
    assert _count(db_session, Ticket) == tickets_before


def test_markup_in_every_field_is_shown_as_text_in_the_back_office(client, db_session, make_user,
                                                                   login):
    submission_id = _submission_id(client)
    response = _post(client, submission_id=submission_id, name=f"Eve {HOSTILE}",
                     message=f"{HOSTILE}\nline two {HOSTILE}",
                     attachments=[(BytesIO(b"hello"), "<b onmouseover=alert(1)>bon.txt")])
    assert response.status_code == 303, _summary_links(response.text)
    ticket = _ticket_for(db_session, submission_id)
    assert HOSTILE in ticket.subject
    assert HOSTILE in ticket.customer.name

    login(make_user("agent"))
    page = client.get(f"/tickets/{ticket.reference}")
    assert page.status_code == 200
    assert "<script>alert" not in page.text
    assert "<img src=x" not in page.text
    assert "&lt;script&gt;alert(" in page.text

    tracking = client.get(_tracking_path(client, submission_id))
    assert "<script>alert" not in tracking.text
    assert "&lt;script&gt;alert(" in tracking.text


def test_markup_in_fields_that_refuse_it_is_echoed_as_text(client, db_session):
    before = _count(db_session, InboundRecord)
    response = client.post("/complaint?lang=en", data=_valid_fields(
        email=f"x{HOSTILE}@example.nl", order_number=HOSTILE, category=HOSTILE))
    assert response.status_code == 422
    assert {anchor for anchor, _ in _summary_links(response.text)} == {
        "email", "category", "order_number"}
    assert "<script>alert" not in response.text
    assert "&lt;script&gt;alert(" in response.text
    assert _count(db_session, InboundRecord) == before


def test_line_breaks_in_name_never_reach_a_mail_header(client, db_session):
    submission_id = _submission_id(client)
    _post(client, submission_id=submission_id, name="Eve\r\nBcc: victim@example.org\r\n",
          email="eve@example.org")
    ticket = _ticket_for(db_session, submission_id)
    assert ticket.customer.name == "Eve Bcc: victim@example.org"
    for identity in ticket.customer.identities:
        assert "\r" not in (identity.display_name or "")
        assert "\n" not in (identity.display_name or "")
    [row] = db_session.scalars(
        sa.select(OutboxMessage).where(OutboxMessage.ticket_id == ticket.id)
    ).all()
    assert "\n" not in row.payload["to"]["display_name"]
    assert "\r" not in row.payload["to"]["display_name"]
    headers = _mail_headers(row.payload)
    if headers is not None:
        assert not re.search(r"^Bcc:", headers, re.MULTILINE | re.IGNORECASE)
        to_lines = [line for line in headers.split("\r\n") if line.lower().startswith("to:")]
        assert len(to_lines) == 1
        assert "eve@example.org" in to_lines[0]


def test_line_breaks_in_an_email_address_are_refused(client, db_session):
    before = _count(db_session, InboundRecord)
    response = client.post("/complaint?lang=en", data=_valid_fields(
        email="eve@example.org\r\nBcc: victim@example.org"))
    assert response.status_code == 422
    assert [anchor for anchor, _ in _summary_links(response.text)] == ["email"]
    assert _count(db_session, InboundRecord) == before


def test_a_missing_or_mangled_submission_id_is_replaced_not_refused(client, db_session):
    response = _post(client, submission_id="'; DROP TABLE tickets; --")
    assert response.status_code == 303
    new_id = response.headers["Location"].rsplit("/", 1)[-1]
    assert str(uuid.UUID(new_id)) == new_id
    assert _ticket_for(db_session, new_id) is not None


def test_a_missing_csrf_token_gets_400_and_keeps_the_text(tmp_path):
    from ticketing.app import create_app
    from ticketing.extensions import db

    app = create_app("test", WTF_CSRF_ENABLED=True, SQLALCHEMY_DATABASE_URI="sqlite://",
                     ATTACHMENT_STORAGE_PATH=str(tmp_path))
    with app.app_context():
        db.create_all()
    client = app.test_client()
    response = client.post("/complaint?lang=en", data=_valid_fields(message="Nog steeds kapot"))
    assert response.status_code == 400
    assert "Nothing was sent" in response.text
    assert "Nog steeds kapot</textarea>" in response.text
    assert 'name="csrf_token"' in response.text  # a fresh token, so sending again works
    assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")
    # A reply without a token to a link that does not work: the same 404 as any wrong link.
    assert client.post("/track/no-such-link", data={"message": "x"}).status_code == 404


def test_the_rate_limit_stops_a_flood_and_keeps_the_text(tmp_path):
    from ticketing.app import create_app
    from ticketing.extensions import db, limiter

    was_enabled = limiter.enabled
    app = create_app("test", RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI="memory://",
                     COMPLAINT_RATE_LIMIT="2 per minute", SQLALCHEMY_DATABASE_URI="sqlite://",
                     ATTACHMENT_STORAGE_PATH=str(tmp_path))
    try:
        limiter.reset()
        with app.app_context():
            db.create_all()
        client = app.test_client()
        statuses = [_post(client).status_code for _ in range(2)]
        blocked = client.post("/complaint?lang=en", data=_valid_fields(message="Derde keer"))
        other_address = client.post("/complaint", data=_valid_fields(),
                                    environ_overrides={"REMOTE_ADDR": "192.0.2.7"})
        assert statuses == [303, 303]
        assert blocked.status_code == 429
        assert "several messages in a short time" in blocked.text
        assert "Derde keer</textarea>" in blocked.text
        assert other_address.status_code == 303  # the limit is per address
        assert client.get("/complaint").status_code == 200  # reading the form is never limited
        with app.app_context():
            web_messages = sa.select(sa.func.count()).where(Message.channel == "web")
            assert db.session.scalar(web_messages) == 3
    finally:
        limiter.reset()
        limiter.enabled = was_enabled
        with app.app_context():
            db.engine.dispose()


@pytest.mark.redis
def test_the_rate_limit_counts_in_redis_when_configured(tmp_path):
    import os

    import redis

    from tests.conftest import skip_or_fail
    from ticketing.app import create_app
    from ticketing.extensions import db, limiter

    redis_url = os.environ.get("REDIS_URL")
    if not redis_url:
        skip_or_fail("REDIS_URL is not set, so the Redis rate-limit storage is not tried")
    # Our own database number, so other engineers' and CI's Redis data is never touched.
    storage = redis_url.rsplit("/", 1)[0] + "/11" if redis_url.count("/") > 2 else redis_url
    was_enabled = limiter.enabled
    app = create_app("test", RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI=storage,
                     COMPLAINT_RATE_LIMIT="1 per minute", SQLALCHEMY_DATABASE_URI="sqlite://",
                     ATTACHMENT_STORAGE_PATH=str(tmp_path))
    try:
        limiter.reset()
        with app.app_context():
            db.create_all()
        client = app.test_client()
        assert _post(client).status_code == 303
        assert _post(client).status_code == 429
        # The count lives in Redis, so every web worker on every host shares it.
        assert redis.Redis.from_url(storage).keys("LIMITS:*")
    finally:
        limiter.reset()
        limiter.enabled = was_enabled
        with app.app_context():
            db.engine.dispose()


# --- helpers ----------------------------------------------------------------------------------


def _tracking_path(client: Any, submission_id: str) -> str:
    page = client.get(f"/complaint/received/{submission_id}").text
    url = re.search(r'id="tracking-link" href="([^"]+)"', page).group(1)
    return url.replace("https://tickets.example.org", "")


def _mail_headers(payload: dict[str, Any]) -> str | None:
    """The header block of the acknowledgement as the e-mail channel would send it."""
    try:
        from channels.email.smtp import SmtpSettings, build_mime
    except ImportError:
        return None
    from tests.conftest import FIXED_NOW
    from ticketing.services.outbox import payload_to_outbound

    mime = build_mime(payload_to_outbound(payload), SmtpSettings(host="localhost"), FIXED_NOW)
    return mime.as_bytes().decode("utf-8", "replace").split("\r\n\r\n", 1)[0]
