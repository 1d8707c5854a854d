"""The customer's tracking page: what it shows, what it never shows, replies, links that fail."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import timedelta
from io import BytesIO
from typing import Any

import flask_babel
import pytest
import sqlalchemy as sa
from flask import g
from flask.testing import FlaskClient

from ticketing.models import (
    Attachment,
    Customer,
    CustomerIdentity,
    Direction,
    InboundRecord,
    InboundStatus,
    Message,
    Ticket,
    TicketEvent,
    TicketStatus,
)

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00"
    b"\x00\x00IEND\xaeB`\x82"
)


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


@dataclass
class Tracked:
    ticket: Ticket
    token: str

    @property
    def path(self) -> str:
        return f"/track/{self.token}"


@pytest.fixture
def tracked(client, db_session) -> Tracked:
    """A complaint sent through the form, and its tracking token from the confirmation page."""
    submission_id = str(uuid.uuid4())
    response = client.post("/complaint", data={
        "submission_id": submission_id, "name": "Anna de Vries", "email": "anna@example.nl",
        "phone": "", "category": "product", "order_number": "", "website": "",
        "message": "De stofzuiger is kapot.\nHij maakt een raar geluid.",
        "attachments": [(BytesIO(PNG), "stofzuiger.png")],
    })
    assert response.status_code == 303
    page = client.get(response.headers["Location"]).text
    token = re.search(r'id="tracking-link" href="[^"]*/track/([^"]+)"', page).group(1)
    message = db_session.scalar(sa.select(Message).where(Message.external_id == submission_id))
    return Tracked(message.ticket, token)


def _reply(client: Any, tracked: Tracked, text: str, **extra: Any) -> Any:
    data = {"submission_id": str(uuid.uuid4()), "message": text, "website": "", **extra}
    return client.post(tracked.path, data=data)


def _add_message(db_session: Any, ticket: Ticket, direction: Direction, text: str, **fields: Any
                 ) -> Message:
    message = Message(ticket=ticket, direction=direction, channel=fields.pop("channel", "email"),
                      text=text, new_text=text, created_at=ticket.opened_at, **fields)
    db_session.add(message)
    db_session.flush()
    return message


# --- what the page shows ----------------------------------------------------------------------


def test_the_page_shows_status_reference_subject_and_conversation(client, tracked, db_session):
    reply = _add_message(db_session, tracked.ticket, Direction.outbound,
                         "Wilt u een foto van het typeplaatje sturen?",
                         identity=tracked.ticket.customer.identities[0])
    html = client.get(tracked.path).text
    assert f"Uw klacht {tracked.ticket.reference}" in html
    assert '<span class="status status-new">Ontvangen</span>' in html
    assert "Product: De stofzuiger is kapot." in html
    assert "De stofzuiger is kapot.\nHij maakt een raar geluid." in html
    assert reply.text in html
    assert "stofzuiger.png" in html
    english = client.get(tracked.path + "?lang=en").text
    assert f"Your complaint {tracked.ticket.reference}" in english
    assert '<span class="status status-new">Received</span>' in english


@pytest.mark.parametrize(
    ("status", "label"),
    [(TicketStatus.open, "In progress"), (TicketStatus.pending, "Waiting for your reply"),
     (TicketStatus.on_hold, "On hold"), (TicketStatus.solved, "Solved"),
     (TicketStatus.closed, "Closed")],
)
def test_every_status_has_a_customer_facing_name(client, tracked, db_session, status, label):
    tracked.ticket.status = status
    db_session.flush()
    html = client.get(tracked.path + "?lang=en").text
    assert f'<span class="status status-{status.value}">{label}</span>' in html


def test_notes_machine_messages_and_other_customers_never_show(client, tracked, db_session):
    stranger = Customer(name="Someone Else", created_at=tracked.ticket.opened_at)
    stranger_address = CustomerIdentity(customer=stranger, kind="email",
                                        address="someone@example.org")
    db_session.add_all([stranger, stranger_address])
    note = _add_message(db_session, tracked.ticket, Direction.note, "Klant is lastig, geen korting")
    _add_message(db_session, tracked.ticket, Direction.inbound, "I am out of the office",
                 kind="auto_reply")
    _add_message(db_session, tracked.ticket, Direction.inbound, "Delivery Status Notification",
                 kind="bounce")
    _add_message(db_session, tracked.ticket, Direction.inbound, "Mijn IBAN is NL00BANK0123",
                 identity=stranger_address)
    db_session.add(Attachment(message=note, filename="intern.pdf",
                              content_type="application/pdf", size=10, sha256="0" * 64))
    db_session.flush()
    html = client.get(tracked.path).text
    for hidden in ("Klant is lastig", "out of the office", "Delivery Status Notification",
                   "NL00BANK0123", "someone@example.org", "intern.pdf"):
        assert hidden not in html


@pytest.fixture
def links_that_fail(tracked, db_session) -> dict[str, str]:
    from ticketing.services.tracking import issue_tracking_token, revoke_tracking_tokens

    long_ago = tracked.ticket.opened_at - timedelta(days=400)
    expired = issue_tracking_token(tracked.ticket, now=long_ago, valid_for=timedelta(days=180))
    other = db_session.scalar(sa.select(Ticket).where(Ticket.id != tracked.ticket.id).limit(1))
    revoked_ticket = other or tracked.ticket
    revoked = issue_tracking_token(revoked_ticket, now=tracked.ticket.opened_at, valid_for=None)
    revoke_tracking_tokens(revoked_ticket, now=tracked.ticket.opened_at)
    db_session.flush()
    return {"unknown": "x" * 43, "expired": expired, "revoked": revoked, "short": "abc123",
            "too long": "a" * 300}


def test_wrong_expired_and_revoked_links_get_the_same_404(client, tracked, links_that_fail):
    bodies = set()
    for token in links_that_fail.values():
        response = client.get(f"/track/{token}")
        assert response.status_code == 404
        assert response.headers["Cache-Control"] == "no-store"
        bodies.add(response.text.replace(token, "TOKEN"))
        assert client.post(f"/track/{token}", data={"message": "hallo"}).status_code == 404
    assert len(bodies) == 1
    assert "Wij kunnen deze pagina niet vinden" in bodies.pop()


def test_a_revoked_link_stops_working(client, tracked, db_session):
    from ticketing.services.tracking import revoke_tracking_tokens

    assert client.get(tracked.path).status_code == 200
    revoke_tracking_tokens(tracked.ticket, now=tracked.ticket.opened_at)
    db_session.flush()
    assert client.get(tracked.path).status_code == 404


def test_tracking_pages_are_not_cached_and_leak_no_referrer(client, tracked):
    response = client.get(tracked.path)
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert '<meta name="referrer" content="no-referrer">' in response.text


# --- replies ------------------------------------------------------------------------------------


def test_a_reply_is_stored_raw_and_added_to_the_same_ticket(client, tracked, db_session):
    response = _reply(client, tracked, "Hier is het typeplaatje.",
                      attachments=[(BytesIO(PNG), "typeplaatje.png")])
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"{tracked.path}#latest")

    record = db_session.scalar(sa.select(InboundRecord).order_by(InboundRecord.id.desc()).limit(1))
    document = json.loads(record.payload)
    assert record.channel == "web"
    assert record.status == InboundStatus.processed
    assert document["kind"] == "reply"
    assert document["fields"]["ticket_id"] == tracked.ticket.id
    assert document["fields"]["email"] == "anna@example.nl"
    assert record.ticket_id == tracked.ticket.id

    db_session.expire_all()
    ticket = db_session.get(Ticket, tracked.ticket.id)
    latest = ticket.messages[-1]
    assert (latest.direction, latest.channel, latest.text) == (
        Direction.inbound, "web", "Hier is het typeplaatje.")
    assert [a.filename for a in latest.attachments] == ["typeplaatje.png"]
    assert ticket.contact_count == 2
    assert ticket.last_customer_message_at == latest.created_at

    page = client.get(response.headers["Location"]).text
    assert "Bedankt. Uw reactie is aan uw klacht toegevoegd." in page
    latest_item = page.split('id="latest"', 1)[1]
    assert "Hier is het typeplaatje." in latest_item
    assert "typeplaatje.png" in latest_item


def test_a_reply_before_our_answer_counts_as_the_customer_coming_back(client, tracked,
                                                                       db_session):
    _reply(client, tracked, "Ik wacht nog steeds op antwoord.")
    db_session.expire_all()
    ticket = db_session.get(Ticket, tracked.ticket.id)
    assert ticket.repeat_contacts == 1
    event = db_session.scalar(
        sa.select(TicketEvent).where(TicketEvent.ticket_id == ticket.id,
                                     TicketEvent.type == "repeat.detected")
    )
    assert "tracking page" in event.data["reason"]


def test_a_reply_takes_a_waiting_ticket_back_to_open(client, tracked, db_session):
    from ticketing.services.tickets import change_status

    change_status(tracked.ticket, TicketStatus.pending, now=tracked.ticket.opened_at,
                  reason="asked the customer for a photo")
    db_session.flush()
    _reply(client, tracked, "Foto volgt morgen.")
    db_session.expire_all()
    assert db_session.get(Ticket, tracked.ticket.id).status == TicketStatus.open


def test_a_reply_on_a_long_closed_ticket_opens_a_follow_up_the_customer_can_follow(
    client, tracked, db_session
):
    ticket = tracked.ticket
    ticket.status = TicketStatus.closed
    ticket.solved_at = ticket.closed_at = ticket.opened_at - timedelta(days=60)
    db_session.flush()
    response = _reply(client, tracked, "Het is weer kapot.")
    assert response.status_code == 303
    new_path = response.headers["Location"].split("#", 1)[0]
    assert new_path != tracked.path
    assert new_path.startswith("/track/")
    page = client.get(new_path).text
    follow_up = db_session.scalar(sa.select(Ticket).order_by(Ticket.id.desc()).limit(1))
    assert follow_up.id != ticket.id
    assert follow_up.repeat_of_id == ticket.id
    assert f"Uw klacht {follow_up.reference}" in page
    assert follow_up.reference in page.split('class="flashes"', 1)[1].split("</div>", 1)[0]


def test_an_empty_reply_is_refused_kindly(client, tracked, db_session):
    before = db_session.scalar(sa.select(sa.func.count()).select_from(InboundRecord))
    response = _reply(client, tracked, "   ")
    assert response.status_code == 422
    assert '<a href="#message">Schrijf een reactie of voeg een bestand toe.</a>' in response.text
    assert db_session.scalar(sa.select(sa.func.count()).select_from(InboundRecord)) == before


def test_a_too_long_reply_is_refused_and_kept(client, tracked):
    response = _reply(client, tracked, "lang " * 5000)
    assert response.status_code == 422
    assert "Uw reactie mag hoogstens 20000 tekens lang zijn." in response.text
    assert "lang lang lang" in response.text


def test_sending_the_same_reply_twice_adds_it_once(client, tracked, db_session):
    submission_id = str(uuid.uuid4())
    for _ in range(2):
        assert _reply(client, tracked, "Dubbel?", submission_id=submission_id).status_code == 303
    assert db_session.scalar(
        sa.select(sa.func.count()).select_from(Message).where(Message.external_id == submission_id)
    ) == 1


def test_a_reply_with_the_honeypot_filled_is_quarantined(client, tracked, db_session):
    response = _reply(client, tracked, "Buy cheap pills", website="http://spam.example")
    assert response.status_code == 303
    record = db_session.scalar(sa.select(InboundRecord).order_by(InboundRecord.id.desc()).limit(1))
    assert record.status == InboundStatus.quarantined
    assert "honeypot" in record.reason
    db_session.expire_all()
    assert "Buy cheap pills" not in client.get(tracked.path).text


def test_the_reply_form_is_labelled_and_carries_a_fresh_submission_id(client, tracked):
    html = client.get(tracked.path).text
    assert '<label for="message">' in html
    assert '<label for="attachments">' in html
    first = re.search(r'name="submission_id" type="hidden" value="([0-9a-f-]{36})"', html)
    second = re.search(r'name="submission_id" type="hidden" value="([0-9a-f-]{36})"',
                       client.get(tracked.path).text)
    assert first.group(1) != second.group(1)


# --- attachments ------------------------------------------------------------------------------


def test_the_customer_can_download_attachments_of_the_conversation(client, tracked, db_session):
    attachment = tracked.ticket.messages[0].attachments[0]
    with client.get(f"{tracked.path}/attachments/{attachment.id}") as response:
        assert response.status_code == 200
        assert response.data == PNG
        assert response.mimetype == "image/png"
        assert response.headers["Content-Disposition"].startswith("attachment;")
        assert response.headers["Cache-Control"] == "no-store"


def test_attachments_outside_the_public_conversation_cannot_be_downloaded(client, tracked,
                                                                          db_session):
    from ticketing.services.tracking import issue_tracking_token

    note = _add_message(db_session, tracked.ticket, Direction.note, "intern")
    hidden = Attachment(message=note, filename="intern.png", content_type="image/png",
                        size=len(PNG), sha256=tracked.ticket.messages[0].attachments[0].sha256)
    db_session.add(hidden)
    other_customer = Customer(name="B", created_at=tracked.ticket.opened_at)
    other_ticket = Ticket(customer=other_customer, subject="x", channel="web",
                          opened_at=tracked.ticket.opened_at, updated_at=tracked.ticket.opened_at)
    db_session.add_all([other_customer, other_ticket])
    db_session.flush()
    other_token = issue_tracking_token(other_ticket, now=tracked.ticket.opened_at, valid_for=None)
    db_session.flush()
    own = tracked.ticket.messages[0].attachments[0]
    assert client.get(f"{tracked.path}/attachments/{hidden.id}").status_code == 404
    assert client.get(f"/track/{other_token}/attachments/{own.id}").status_code == 404
    assert client.get(f"/track/{'x' * 43}/attachments/{own.id}").status_code == 404
