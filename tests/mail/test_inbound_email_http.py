"""POST /inbound/email: raw MIME from a provider, shared secret, stored before anything else."""

from __future__ import annotations

import hashlib
from email.message import EmailMessage

import pytest
import sqlalchemy as sa

from ticketing.models import InboundRecord, Message, Ticket

SECRET = "test-inbound-secret"  # TestConfig.INBOUND_EMAIL_SECRET


def compose(number: int, *, sender: str | None = "klant@example.nl", body: str = "") -> bytes:
    message = EmailMessage()
    if sender:
        message["From"] = f"Klant <{sender}>"
    message["To"] = "support@example.org"
    message["Subject"] = f"Klacht {number}"
    message["Date"] = "Mon, 02 Mar 2026 10:00:00 +0100"
    message["Message-ID"] = f"<push-{number}@example.nl>"
    message.set_content(body or f"Mijn pakket {number} is niet bezorgd.")
    return message.as_bytes()


def push(client, raw: bytes, headers: dict[str, str] | None = None):
    return client.post(
        "/inbound/email",
        data=raw,
        content_type="message/rfc822",
        headers={"Authorization": f"Bearer {SECRET}"} if headers is None else headers,
    )


def stored(db_session) -> int:
    return db_session.scalar(sa.select(sa.func.count(InboundRecord.id)))


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-secret"},
        {"Authorization": f"Basic {SECRET}"},
        {"Authorization": f"Bearer {SECRET}x"},
        {"X-Inbound-Secret": "wrong-secret"},
        {"Authorization": "Bearer "},
    ],
    ids=["none", "wrong", "not-bearer", "longer", "wrong-header", "empty"],
)
def test_a_missing_or_wrong_secret_is_refused_and_nothing_is_stored(client, db_session, headers):
    response = push(client, compose(1), headers)
    assert response.status_code == 401
    assert stored(db_session) == 0


def test_without_a_configured_secret_every_push_is_refused(
    app, client, db_session, monkeypatch
):
    monkeypatch.setitem(app.config, "INBOUND_EMAIL_SECRET", None)
    assert push(client, compose(2), {"Authorization": "Bearer "}).status_code == 401
    assert push(client, compose(2), {"Authorization": "Bearer None"}).status_code == 401
    assert stored(db_session) == 0


def test_an_accepted_push_answers_202_with_the_outcome(client, db_session):
    response = push(client, compose(3))
    assert response.status_code == 202
    body = response.get_json()
    ticket = db_session.scalar(sa.select(Ticket))
    assert body == {
        "source": "http:127.0.0.1",
        "message_id": "push-3@example.nl",
        "outcome": "created",
        "ticket": ticket.reference,
    }


def test_the_secret_may_come_in_its_own_header(client, db_session):
    response = push(client, compose(4), {"X-Inbound-Secret": SECRET})
    assert response.status_code == 202
    assert response.get_json()["outcome"] == "created"


def test_the_raw_message_is_stored_byte_for_byte(client, db_session):
    raw = compose(5, body="Één klacht met ü en €, en regels\r\nmet CRLF.")
    push(client, raw)
    record = db_session.scalar(sa.select(InboundRecord))
    assert record.payload == raw
    assert record.sha256 == hashlib.sha256(raw).hexdigest()
    assert record.channel == "email"
    assert record.source == "http:127.0.0.1"
    assert record.status.value == "processed"
    message = db_session.scalar(sa.select(Message).where(Message.inbound_id == record.id))
    assert message.ticket_id == record.ticket_id


def test_a_message_over_the_size_limit_is_refused_with_413(app, client, db_session, monkeypatch):
    monkeypatch.setitem(app.config, "EMAIL_MAX_BYTES", 2000)
    response = push(client, compose(6, body="x" * 3000))
    assert response.status_code == 413
    assert stored(db_session) == 0
    assert push(client, compose(7)).status_code == 202  # a small one still goes in


def test_an_empty_body_is_a_bad_request(client, db_session):
    assert push(client, b"").status_code == 400
    assert stored(db_session) == 0


def test_a_redelivered_push_is_a_duplicate_and_both_raws_are_kept(client, db_session):
    first = push(client, compose(8)).get_json()
    second = push(client, compose(8))
    assert second.status_code == 202
    assert second.get_json() == {**first, "outcome": "duplicate"}
    assert stored(db_session) == 2
    assert db_session.scalar(sa.select(sa.func.count(Ticket.id))) == 1


def test_unusable_mail_is_accepted_and_quarantined_so_the_provider_does_not_retry(
    client, db_session
):
    response = push(client, compose(9, sender=None))
    assert response.status_code == 202
    body = response.get_json()
    assert body["outcome"] == "quarantined"
    assert body["ticket"] is None
    assert "no sender" in body["reason"]
    record = db_session.scalar(sa.select(InboundRecord))
    assert record.status.value == "quarantined"
    assert record.reason == body["reason"]


def test_the_envelope_sender_from_the_provider_is_kept_and_used(client, db_session):
    response = push(client, compose(10, sender=None), {
        "Authorization": f"Bearer {SECRET}",
        "X-Envelope-From": "<bounce-address@example.nl>",
        "X-Other-Header": "not kept",
    })
    assert response.get_json()["outcome"] == "created"
    record = db_session.scalar(sa.select(InboundRecord))
    assert record.envelope == {"headers": {"X-Envelope-From": "<bounce-address@example.nl>"}}
    ticket = db_session.scalar(sa.select(Ticket))
    assert [identity.address for identity in ticket.customer.identities] == [
        "bounce-address@example.nl"
    ]


def test_the_endpoint_needs_no_csrf_token(app, client, db_session, monkeypatch):
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    assert push(client, compose(11)).status_code == 202
