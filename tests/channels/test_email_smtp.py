"""Sending over SMTP against a real aiosmtpd server on loopback, and safe header building."""

from __future__ import annotations

import email
import email.policy
import shutil
import smtplib
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword

from channels.email import EmailAdapter, SmtpSettings
from channels.email.smtp import build_mime
from tests.support.servers import free_port
from tests.support.servers import smtp_server as serving_smtp
from ticketing.domain.contact import (
    Channel,
    Identity,
    IdentityKind,
    InboundAttachment,
    OutboundMessage,
)

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


@dataclass
class RecordingHandler:
    """An SMTP server's brain: records what it accepts, refuses the addresses it is told to."""

    permanent_refusals: set[str] = field(default_factory=set)
    temporary_refusals: set[str] = field(default_factory=set)
    received: list[tuple[str, list[str], bytes]] = field(default_factory=list)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if address in self.permanent_refusals:
            return "550 5.1.1 User unknown"
        if address in self.temporary_refusals:
            return "451 4.3.0 Mailbox busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 2.0.0 Message accepted for delivery"


@pytest.fixture
def smtp_server() -> Iterator[tuple[RecordingHandler, int]]:
    handler = RecordingHandler()
    with serving_smtp(handler) as port:
        yield handler, port


def adapter_for(port: int, **overrides: object) -> EmailAdapter:
    settings = {
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "timeout": 5.0,
        "from_address": "support@tickets.example.com",
        "from_name": "Klantenservice",
        "message_id_domain": "tickets.example.com",
    }
    settings.update(overrides)
    return EmailAdapter(smtp=SmtpSettings(**settings), clock=lambda: NOW)  # type: ignore[arg-type]


def outbound(**overrides: object) -> OutboundMessage:
    values: dict[str, object] = {
        "channel": Channel.email,
        "to": Identity(IdentityKind.email, "klant@example.nl", "Jan de Vries"),
        "text": "Uw pakket is onderweg.",
        "subject": "Re: Pakket nog steeds niet bezorgd",
        "message_id": "out-42@tickets.example.com",
        "in_reply_to": "abc123@mail.example.nl",
        "references": ("abc123@mail.example.nl",),
        "ticket_ref": "T-1042",
    }
    values.update(overrides)
    return OutboundMessage(**values)  # type: ignore[arg-type]


def received_message(handler: RecordingHandler) -> EmailMessage:
    (_, _, content), = handler.received
    return email.message_from_bytes(content, policy=email.policy.default)  # type: ignore[return-value]


def test_delivery_is_accepted_with_the_message_id(smtp_server) -> None:
    handler, port = smtp_server
    receipt = adapter_for(port).send(outbound())
    assert receipt.accepted
    assert receipt.provider_id == "out-42@tickets.example.com"
    mail_from, recipients, _ = handler.received[0]
    assert mail_from == "support@tickets.example.com"
    assert recipients == ["klant@example.nl"]


def test_delivered_headers(smtp_server) -> None:
    handler, port = smtp_server
    adapter_for(port).send(outbound())
    message = received_message(handler)
    assert message["From"] == "Klantenservice <support@tickets.example.com>"
    assert message["To"] == "Jan de Vries <klant@example.nl>"
    assert message["Subject"] == "Re: Pakket nog steeds niet bezorgd [T-1042]"
    assert message["Message-ID"] == "<out-42@tickets.example.com>"
    assert message["In-Reply-To"] == "<abc123@mail.example.nl>"
    assert message["References"] == "<abc123@mail.example.nl>"
    assert message["Date"] == "Mon, 23 Nov 2026 10:00:00 +0000"
    assert message["Auto-Submitted"] is None
    assert message.get_content().strip() == "Uw pakket is onderweg."


def test_automatic_mail_is_marked(smtp_server) -> None:
    handler, port = smtp_server
    adapter_for(port).send(outbound(is_automatic=True))
    message = received_message(handler)
    assert message["Auto-Submitted"] == "auto-replied"
    assert message["X-Auto-Response-Suppress"] == "All"


def test_automatic_notification_that_answers_nothing_is_auto_generated() -> None:
    message = build_mime(
        outbound(is_automatic=True, in_reply_to=None, references=()), settings(), NOW
    )
    assert message["Auto-Submitted"] == "auto-generated"


def test_html_alternative_and_attachments(smtp_server) -> None:
    handler, port = smtp_server
    attachment = InboundAttachment("../label.pdf", "application/pdf", data=b"%PDF-1.4 label")
    adapter_for(port).send(outbound(html="<p>Uw pakket is <b>onderweg</b>.</p>",
                                    attachments=(attachment,)))
    message = received_message(handler)
    assert message.get_body(("html",)).get_content().strip() == (
        "<p>Uw pakket is <b>onderweg</b>.</p>"
    )
    (part,) = list(message.iter_attachments())
    assert part.get_filename() == "label.pdf"
    assert part.get_content() == b"%PDF-1.4 label"


def test_a_message_id_is_made_when_none_is_given(smtp_server) -> None:
    handler, port = smtp_server
    receipt = adapter_for(port).send(outbound(message_id=None))
    assert receipt.accepted
    assert receipt.provider_id is not None
    assert receipt.provider_id.endswith("@tickets.example.com")
    assert received_message(handler)["Message-ID"] == f"<{receipt.provider_id}>"


def test_ticket_tag_is_not_added_twice() -> None:
    message = build_mime(outbound(subject="Re: [T-1042] Pakket"), settings(), NOW)
    assert message["Subject"] == "Re: [T-1042] Pakket"


def test_refused_recipient_is_permanent(smtp_server) -> None:
    handler, port = smtp_server
    handler.permanent_refusals.add("klant@example.nl")
    receipt = adapter_for(port).send(outbound())
    assert not receipt.accepted
    assert receipt.permanent
    assert receipt.error_code == "550"
    assert "User unknown" in (receipt.error or "")
    assert handler.received == []


def test_temporary_failure_is_retryable(smtp_server) -> None:
    handler, port = smtp_server
    handler.temporary_refusals.add("klant@example.nl")
    receipt = adapter_for(port).send(outbound())
    assert not receipt.accepted
    assert not receipt.permanent
    assert receipt.error_code == "451"


def test_unreachable_server_is_retryable() -> None:
    receipt = adapter_for(free_port()).send(outbound())
    assert not receipt.accepted
    assert not receipt.permanent
    assert receipt.status == "deferred"


def test_unconfigured_adapter_refuses_without_raising() -> None:
    receipt = EmailAdapter().send(outbound())
    assert not receipt.accepted
    assert receipt.status == "unconfigured"


def test_smtp_without_a_clock_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="clock"):
        EmailAdapter(smtp=settings())


def settings() -> SmtpSettings:
    return SmtpSettings(host="127.0.0.1", from_address="support@tickets.example.com",
                        message_id_domain="tickets.example.com")


# --- header injection -----------------------------------------------------------------------

HOSTILE = "x\r\nBcc: evil@x.example"


@pytest.mark.parametrize(
    "overrides",
    [
        {"subject": HOSTILE},
        {"subject": "x\nBcc: evil@x.example"},
        {"subject": "x\rBcc: evil@x.example"},
        {"subject": "x\u2028Bcc: evil@x.example"},
        {"to": Identity(IdentityKind.email, "klant@example.nl", HOSTILE)},
        {"from_name": HOSTILE},
        {"ticket_ref": "T-1\r\nBcc: evil@x.example"},
    ],
)
def test_hostile_values_cannot_add_a_header(smtp_server, overrides: dict[str, object]) -> None:
    handler, port = smtp_server
    receipt = adapter_for(port).send(outbound(**overrides))
    assert receipt.accepted
    message = received_message(handler)
    assert message["Bcc"] is None
    _, recipients, content = handler.received[0]
    assert recipients == ["klant@example.nl"]
    assert b"\r\nBcc:" not in content
    assert b"\nBcc:" not in content


@pytest.mark.parametrize(
    "address",
    ["klant@example.nl\r\nBcc: evil@x.example", "klant@example.nl, evil@x.example",
     "Jan <klant@example.nl>", "not-an-address", ""],
)
def test_bad_addresses_are_refused_permanently(smtp_server, address: str) -> None:
    handler, port = smtp_server
    receipt = adapter_for(port).send(outbound(to=Identity(IdentityKind.email, address)))
    assert not receipt.accepted
    assert receipt.permanent
    assert handler.received == []


@pytest.mark.parametrize("field_name", ["message_id", "in_reply_to"])
def test_hostile_message_ids_are_refused(smtp_server, field_name: str) -> None:
    handler, port = smtp_server
    receipt = adapter_for(port).send(outbound(**{field_name: "a@b>\r\nBcc: evil@x.example"}))
    assert not receipt.accepted
    assert handler.received == []


# --- TLS ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed; cannot make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    return cert, key


@pytest.fixture
def starttls_server(certificate: tuple[Path, Path]) -> Iterator[tuple[RecordingHandler, int]]:
    cert, key = certificate
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)

    def authenticate(server, session, envelope, mechanism, auth_data) -> AuthResult:
        valid = isinstance(auth_data, LoginPassword) and (
            auth_data.login, auth_data.password) == (b"agent", b"s3cret")
        return AuthResult(success=valid)

    handler = RecordingHandler()
    with serving_smtp(handler, tls_context=server_context, require_starttls=True,
                      authenticator=authenticate, auth_required=True) as port:
        yield handler, port


def test_starttls_with_login_and_a_trusted_certificate(starttls_server, certificate) -> None:
    handler, port = starttls_server
    trusted = ssl.create_default_context(cafile=str(certificate[0]))
    adapter = adapter_for(port, security="starttls", ssl_context=trusted,
                          username="agent", password="s3cret")
    assert adapter.send(outbound()).accepted
    assert len(handler.received) == 1


def test_untrusted_certificate_is_not_accepted(starttls_server) -> None:
    handler, port = starttls_server
    receipt = adapter_for(port, security="starttls").send(outbound())
    assert not receipt.accepted
    assert not receipt.permanent  # fix the certificate, then the retry goes through
    assert "CERTIFICATE_VERIFY_FAILED" in (receipt.error or "")
    assert handler.received == []


def test_rejected_login_is_retryable(smtp_server, monkeypatch: pytest.MonkeyPatch) -> None:
    def reject(self: smtplib.SMTP, user: str, password: str) -> None:
        raise smtplib.SMTPAuthenticationError(535, b"5.7.8 Authentication credentials invalid")

    monkeypatch.setattr(smtplib.SMTP, "login", reject)
    _, port = smtp_server
    receipt = adapter_for(port, username="agent", password="wrong").send(outbound())
    assert not receipt.accepted
    assert not receipt.permanent  # our credentials, not the message: fix them and retry
    assert receipt.error_code == "535"


def test_international_domain_is_sent_in_punycode(smtp_server) -> None:
    handler, port = smtp_server
    receipt = adapter_for(port).send(
        outbound(to=Identity(IdentityKind.email, "klant@exämple.nl", "Jörg"))
    )
    assert receipt.accepted
    _, recipients, content = handler.received[0]
    assert recipients == ["klant@xn--exmple-cua.nl"]
    assert b"<klant@xn--exmple-cua.nl>" in content


def test_non_ascii_local_part_is_refused_permanently(smtp_server) -> None:
    handler, port = smtp_server
    receipt = adapter_for(port).send(outbound(to=Identity(IdentityKind.email, "jörg@example.nl")))
    assert not receipt.accepted
    assert receipt.permanent
    assert handler.received == []


def test_password_stays_out_of_reprs() -> None:
    assert "s3cret" not in repr(SmtpSettings(host="mx", username="agent", password="s3cret"))
