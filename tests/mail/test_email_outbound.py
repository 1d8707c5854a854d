"""Mail out through the outbox to a real SMTP server on loopback: threading, safety, retries."""

from __future__ import annotations

import email
import email.policy
import shutil
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import ticketing.jobs
from channels.email import EmailAdapter, SmtpSettings
from channels.registry import build_registry
from tests.support.servers import free_port
from tests.support.servers import smtp_server as serving_smtp
from ticketing.clock import utcnow
from ticketing.jobs import deliver_outbox
from ticketing.mail_ingest import ingest_mail
from ticketing.models import Message, OutboxMessage, Ticket
from ticketing.services import outbox
from ticketing.services.ticket_actions import OutboundSettings, reply

SUPPORT = "support@tickets.example.org"
HOSTILE_NAME = "=?utf-8?q?Evil=0D=0ABcc=3A_victim=40evil=2Eexample?="
HOSTILE_SUBJECT = "=?utf-8?q?Klacht=0D=0ABcc=3A_victim=40evil=2Eexample=0A=0AInjected_body?="


@dataclass
class Delivered:
    mail_from: str
    recipients: list[str]
    raw: bytes
    over_tls: bool

    @property
    def message(self) -> EmailMessage:
        return email.message_from_bytes(self.raw, policy=email.policy.default)


@dataclass
class RecordingHandler:
    """Accept mail and record it, or refuse recipients permanently (550) or for now (451)."""

    refuse_permanently: set[str] = field(default_factory=set)
    refuse_for_now: set[str] = field(default_factory=set)
    delivered: list[Delivered] = field(default_factory=list)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if address in self.refuse_permanently:
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        if address in self.refuse_for_now:
            return "451 4.7.1 Greylisted, please try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.delivered.append(Delivered(envelope.mail_from, list(envelope.rcpt_tos),
                                        envelope.original_content, session.ssl is not None))
        return "250 2.0.0 Ok: queued"


@pytest.fixture
def smtp_server() -> Iterator[tuple[RecordingHandler, int]]:
    handler = RecordingHandler()
    with serving_smtp(handler) as port:
        yield handler, port


def point_app_at(app, monkeypatch, port: int, security: str) -> None:
    """Send the app's mail to the loopback server; monkeypatch restores config and registry."""
    for key, value in {
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": port,
        "SMTP_SECURITY": security,
        "SMTP_TIMEOUT": 5,
        "SMTP_USERNAME": None,
        "MAIL_FROM_ADDRESS": SUPPORT,
        "MAIL_FROM_NAME": "Klantenservice",
        "MAIL_MESSAGE_ID_DOMAIN": "tickets.example.org",
    }.items():
        monkeypatch.setitem(app.config, key, value)
    monkeypatch.setitem(app.extensions, "channels", build_registry(app.config, utcnow))


@pytest.fixture
def mail_server(app, db_session, smtp_server, monkeypatch) -> RecordingHandler:
    handler, port = smtp_server
    point_app_at(app, monkeypatch, port, "none")
    return handler


def customer_mail(number: int, *, sender: str | None = None, from_header: str | None = None,
                  subject: str | None = None, headers: dict[str, str] | None = None) -> bytes:
    address = sender or f"klant{number}@example.nl"
    lines = [
        f"From: {from_header or f'Klant {number} <{address}>'}",
        "To: support@tickets.example.org",
        f"Subject: {subject or f'Pakket {number} kwijt'}",
        "Date: Mon, 02 Mar 2026 10:00:00 +0100",
        f"Message-ID: <customer-{number}@example.nl>",
        *(f"{key}: {value}" for key, value in (headers or {}).items()),
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "",
        f"Mijn pakket {number} is niet bezorgd. Waar blijft het?",
        "",
    ]
    return "\r\n".join(lines).encode()


def take_in(app, raw: bytes) -> Ticket:
    outcome = ingest_mail(app, raw, source="test")
    assert outcome.outcome in {"created", "appended"}, outcome.reason
    return outcome.results[0].ticket


def outbox_row(db_session, purpose: str) -> OutboxMessage:
    return db_session.scalar(
        sa.select(OutboxMessage).where(OutboxMessage.purpose == purpose)
        .order_by(OutboxMessage.id.desc()).limit(1)
    )


def header_names(raw: bytes) -> list[str]:
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
    return [line.split(":", 1)[0].lower() for line in head.split("\r\n")
            if line and not line[0].isspace()]


# --- acknowledgements and replies -----------------------------------------------------------


def test_acknowledgement_is_threaded_tagged_and_marked_automatic(app, db_session, mail_server):
    ticket = take_in(app, customer_mail(1))
    assert deliver_outbox() == {"sent": 1, "failed": 0, "retrying": 0}

    [delivered] = mail_server.delivered
    ack = db_session.scalar(sa.select(Message).where(Message.kind == "acknowledgement"))
    mime = delivered.message
    assert delivered.recipients == ["klant1@example.nl"]
    assert delivered.mail_from == SUPPORT
    assert mime["Message-ID"] == f"<{ack.rfc_message_id}>"
    assert mime["In-Reply-To"] == "<customer-1@example.nl>"
    assert mime["References"] == "<customer-1@example.nl>"
    assert f"[{ticket.reference}]" in mime["Subject"]
    assert mime["Auto-Submitted"] == "auto-replied"
    assert mime["To"].addresses[0].addr_spec == "klant1@example.nl"
    assert ticket.reference in mime.get_content()

    row = outbox_row(db_session, "acknowledgement")
    assert (row.status.value, row.attempts, row.delivered_via) == ("sent", 1, None)
    assert row.provider_id == ack.rfc_message_id
    assert ack.delivery_state.value == "sent"


def test_agent_reply_continues_the_thread_and_the_answer_comes_back(
    app, db_session, mail_server, make_user
):
    ticket = take_in(app, customer_mail(2))
    deliver_outbox()
    ack_id = db_session.scalar(
        sa.select(Message.rfc_message_id).where(Message.kind == "acknowledgement")
    )
    agent = make_user("agent")
    sent = reply(ticket, "We sturen vandaag een nieuw pakket.", actor=agent, now=utcnow(),
                 settings=OutboundSettings.from_config(app.config))
    db_session.commit()
    assert deliver_outbox()["sent"] == 1

    mime = mail_server.delivered[-1].message
    assert mime["Message-ID"] == f"<{sent.rfc_message_id}>"
    assert mime["In-Reply-To"] == "<customer-2@example.nl>"
    references = str(mime["References"]).split()
    assert references[-1] == "<customer-2@example.nl>"
    assert f"<{ack_id}>" in references
    assert mime["Subject"] == f"Re: Pakket 2 kwijt [{ticket.reference}]"
    assert mime["Auto-Submitted"] is None  # a person wrote this one

    # The customer answers from their mail client: it lands on the same ticket.
    answer = EmailMessage()
    answer["From"] = "Klant 2 <klant2@example.nl>"
    answer["To"] = SUPPORT
    answer["Subject"] = f"Re: {mime['Subject']}"
    answer["Date"] = "Tue, 03 Mar 2026 09:00:00 +0100"
    answer["Message-ID"] = "<customer-2-answer@example.nl>"
    answer["In-Reply-To"] = mime["Message-ID"]
    answer["References"] = f"{mime['References']} {mime['Message-ID']}"
    answer.set_content("Dank u, ik wacht het af.")
    outcome = ingest_mail(app, answer.as_bytes(), source="test")
    assert outcome.outcome == "appended"
    assert outcome.ticket_reference == ticket.reference


def test_the_ticket_tag_alone_threads_a_new_mail_from_the_customer(app, db_session, mail_server):
    ticket = take_in(app, customer_mail(3))
    deliver_outbox()
    subject = str(mail_server.delivered[0].message["Subject"])
    raw = customer_mail(4, sender="klant3@example.nl", subject=f"Nog een vraag {subject}")
    outcome = ingest_mail(app, raw, source="test")
    assert outcome.outcome == "appended"
    assert outcome.ticket_reference == ticket.reference


TOPICS = (
    ("Pakket kwijt", "Mijn pakket met de nieuwe stofzuiger is nooit bezorgd."),
    ("Factuur fout", "Op de factuur van oktober staat een abonnement dat ik opzegde."),
    ("Monteur", "De monteur voor de cv-ketel kwam dinsdagochtend niet opdagen."),
    ("Wachtwoord", "Inloggen op de app lukt niet: wachtwoordherstel geeft foutcode 17."),
    ("Verhuizing", "Bij mijn verhuizing naar Utrecht werd de glasvezelaansluiting vergeten."),
)


def test_a_sender_gets_at_most_three_acknowledgements_a_day(app, db_session, mail_server):
    # Two auto-responders writing each other new mail cannot loop for ever.
    for number, (subject, body) in enumerate(TOPICS, start=20):
        raw = customer_mail(number, sender="chatty@example.nl", subject=subject).replace(
            f"Mijn pakket {number} is niet bezorgd. Waar blijft het?".encode(), body.encode()
        )
        assert ingest_mail(app, raw, source="test").outcome == "created"
    assert deliver_outbox()["sent"] == 3
    assert [d.recipients for d in mail_server.delivered] == [["chatty@example.nl"]] * 3
    assert db_session.scalar(sa.select(sa.func.count(Ticket.id))) == 5


# --- header injection -----------------------------------------------------------------------


def assert_no_injection(delivered: Delivered, recipient: str) -> None:
    assert delivered.recipients == [recipient]
    names = header_names(delivered.raw)
    assert "bcc" not in names
    for single in ("from", "to", "subject", "message-id", "date"):
        assert names.count(single) == 1, names
    mime = delivered.message
    assert mime["Bcc"] is None
    assert [address.addr_spec for address in mime["To"].addresses] == [recipient]
    assert not {"\r", "\n"} & set(str(mime["Subject"]))
    # A blank line smuggled into the subject must not start the body early.
    assert b"Injected body" not in delivered.raw.split(b"\r\n\r\n", 1)[1]


def test_hostile_name_and_subject_cannot_add_headers_from_intake_to_smtp(
    app, db_session, mail_server
):
    raw = customer_mail(5, from_header=f"{HOSTILE_NAME} <klant5@example.nl>",
                        subject=HOSTILE_SUBJECT)
    ticket = take_in(app, raw)
    assert not {"\r", "\n"} & set(ticket.subject)
    deliver_outbox()
    [delivered] = mail_server.delivered
    assert_no_injection(delivered, "klant5@example.nl")


def test_line_breaks_stored_in_name_and_subject_are_neutralised_on_the_way_out(
    app, db_session, mail_server, make_user
):
    # Data from elsewhere (an import, the API, an older version) may hold CR/LF already.
    ticket = take_in(app, customer_mail(6))
    deliver_outbox()
    ticket.customer.name = "Evil\r\nBcc: victim@evil.example"
    ticket.subject = "Help\r\nBcc: victim@evil.example\r\n\r\nInjected body"
    db_session.commit()
    reply(ticket, "Antwoord", actor=make_user("agent"), now=utcnow(),
          settings=OutboundSettings.from_config(app.config))
    db_session.commit()
    assert deliver_outbox()["sent"] == 1
    assert_no_injection(mail_server.delivered[-1], "klant6@example.nl")


# --- refusals and retries -------------------------------------------------------------------


def test_a_refused_recipient_fails_permanently(app, db_session, mail_server):
    mail_server.refuse_permanently.add("klant7@example.nl")
    take_in(app, customer_mail(7))
    assert deliver_outbox() == {"sent": 0, "failed": 1, "retrying": 0}

    row = outbox_row(db_session, "acknowledgement")
    assert row.status.value == "failed"
    assert row.attempts == 1
    assert "550" in row.last_error
    ack = db_session.get(Message, row.message_id)
    assert ack.delivery_state.value == "failed"
    assert "User unknown" in ack.delivery_error
    assert deliver_outbox() == {"sent": 0, "failed": 0, "retrying": 0}  # never tried again
    assert mail_server.delivered == []


def test_a_temporary_refusal_is_retried_later_and_then_delivered(
    app, db_session, mail_server, monkeypatch
):
    mail_server.refuse_for_now.add("klant8@example.nl")
    take_in(app, customer_mail(8))
    tried_at = utcnow()
    assert deliver_outbox() == {"sent": 0, "failed": 0, "retrying": 1}

    row = outbox_row(db_session, "acknowledgement")
    assert row.status.value == "pending"
    assert row.attempts == 1
    assert "451" in row.last_error
    assert row.locked_until is None
    # About a minute later (backoff with jitter), not at once and not hours away.
    assert tried_at + timedelta(seconds=45) < row.next_attempt_at < utcnow() + timedelta(seconds=75)
    ack = db_session.get(Message, row.message_id)
    assert ack.delivery_state.value == "queued"

    # Not before its time, even when the server would take it now.
    mail_server.refuse_for_now.clear()
    assert deliver_outbox() == {"sent": 0, "failed": 0, "retrying": 0}
    assert row.attempts == 1

    retry_at = row.next_attempt_at
    monkeypatch.setattr(ticketing.jobs, "utcnow", lambda: retry_at)
    assert deliver_outbox() == {"sent": 1, "failed": 0, "retrying": 0}
    assert (row.status.value, row.attempts, row.last_error) == ("sent", 2, None)
    assert row.sent_at == retry_at
    assert ack.delivery_state.value == "sent"
    assert [d.recipients for d in mail_server.delivered] == [["klant8@example.nl"]]


def test_an_unreachable_server_is_retried(app, db_session, monkeypatch):
    point_app_at(app, monkeypatch, free_port(), "none")  # nothing listens there
    take_in(app, customer_mail(9))
    assert deliver_outbox() == {"sent": 0, "failed": 0, "retrying": 1}
    row = outbox_row(db_session, "acknowledgement")
    assert row.status.value == "pending"
    assert "Connection refused" in row.last_error or "Errno" in row.last_error


# --- STARTTLS -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (openssl; `cryptography` is not installed)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        from tests.conftest import skip_or_fail

        skip_or_fail("openssl is not installed; cannot make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )
    return cert, key


@pytest.fixture
def starttls_server(certificate) -> Iterator[tuple[RecordingHandler, int]]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(certificate[0]), str(certificate[1]))
    handler = RecordingHandler()
    with serving_smtp(handler, tls_context=context, require_starttls=True) as port:
        yield handler, port


def test_starttls_through_the_app_with_a_trusted_certificate(
    app, db_session, starttls_server, certificate, monkeypatch
):
    # The registry verifies with ssl.create_default_context(), which reads the CA bundle
    # named by SSL_CERT_FILE: the way an operator trusts a private CA.
    handler, port = starttls_server
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    point_app_at(app, monkeypatch, port, "starttls")
    take_in(app, customer_mail(10))
    assert deliver_outbox() == {"sent": 1, "failed": 0, "retrying": 0}
    [delivered] = handler.delivered
    assert delivered.over_tls
    assert delivered.message["Auto-Submitted"] == "auto-replied"


def test_starttls_refuses_an_untrusted_certificate_and_retries_later(
    app, db_session, starttls_server, monkeypatch
):
    handler, port = starttls_server
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    point_app_at(app, monkeypatch, port, "starttls")
    take_in(app, customer_mail(11))
    assert deliver_outbox() == {"sent": 0, "failed": 0, "retrying": 1}
    row = outbox_row(db_session, "acknowledgement")
    assert "CERTIFICATE_VERIFY_FAILED" in row.last_error
    assert handler.delivered == []


def test_starttls_adapter_with_its_own_context_sends_a_queued_message(
    app, db_session, mail_server, starttls_server, certificate
):
    # SmtpSettings.ssl_context is not reachable from the app settings yet; the adapter takes it.
    handler, port = starttls_server
    take_in(app, customer_mail(12))
    row = outbox_row(db_session, "acknowledgement")
    queued: Any = outbox.payload_to_outbound(row.payload)
    adapter = EmailAdapter(
        smtp=SmtpSettings(host="127.0.0.1", port=port, security="starttls", timeout=5,
                          from_address=SUPPORT, message_id_domain="tickets.example.org",
                          ssl_context=ssl.create_default_context(cafile=str(certificate[0]))),
        clock=utcnow,
    )
    receipt = adapter.send(queued)
    assert receipt.accepted, receipt.error
    [delivered] = handler.delivered
    assert delivered.over_tls
    assert delivered.message["Message-ID"] == f"<{queued.message_id}>"
    assert delivered.message["In-Reply-To"] == "<customer-12@example.nl>"
