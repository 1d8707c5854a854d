"""Build outbound mail safely and hand it to an SMTP server, reporting what the server said."""

from __future__ import annotations

import re
import smtplib
import ssl
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Literal

from channels.email.attachments import safe_filename
from channels.email.headers import (
    UnsafeHeaderError,
    checked_address,
    checked_message_id,
    clean_header_text,
    mailbox,
)
from ticketing.domain.contact import DeliveryReceipt, OutboundMessage

Security = Literal["starttls", "tls", "none"]


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to deliver mail.

    Certificates are verified with ssl.create_default_context() unless ssl_context says
    otherwise; "starttls" never falls back to plain text (a server without STARTTLS is a
    retryable failure).
    """

    host: str
    port: int = 587
    username: str | None = None
    password: str | None = field(default=None, repr=False)  # kept out of logs and tracebacks
    security: Security = "starttls"
    timeout: float = 30.0
    from_address: str = "support@localhost"
    from_name: str | None = None
    message_id_domain: str = "localhost"
    envelope_from: str | None = None  # the bounce address (MAIL FROM); From when None
    ssl_context: ssl.SSLContext | None = None  # a custom CA for tests; default verifies
    local_hostname: str | None = None


def _ticket_subject(subject: str | None, ticket_ref: str | None) -> str:
    text = clean_header_text(subject)
    if ticket_ref:
        tag = f"[{clean_header_text(ticket_ref, limit=40)}]"
        if not re.search(rf"(?<![\w-]){re.escape(tag[1:-1])}(?![\w-])", text, re.IGNORECASE):
            text = f"{text} {tag}".strip()
    return text


def new_message_id(domain: str) -> str:
    """Make a globally unique Message-ID (without angle brackets) in our domain."""
    return f"{uuid.uuid4().hex}@{clean_header_text(domain, limit=200) or 'localhost'}"


def build_mime(message: OutboundMessage, settings: SmtpSettings, now: datetime) -> EmailMessage:
    """Assemble the MIME message; every header value is stripped of line breaks first.

    Raises:
        UnsafeHeaderError: an address or Message-ID cannot be used as given.
    """
    mime = EmailMessage(policy=policy.SMTP)
    mime["From"] = mailbox(
        message.from_address or settings.from_address, message.from_name or settings.from_name
    )
    mime["To"] = mailbox(message.to.address, message.to.display_name)
    mime["Subject"] = _ticket_subject(message.subject, message.ticket_ref)
    mime["Date"] = format_datetime(now)
    message_id = message.message_id or new_message_id(settings.message_id_domain)
    mime["Message-ID"] = checked_message_id(message_id)
    if message.in_reply_to:
        mime["In-Reply-To"] = checked_message_id(message.in_reply_to)
    references = [checked_message_id(reference) for reference in message.references]
    if message.in_reply_to and checked_message_id(message.in_reply_to) not in references:
        references.append(checked_message_id(message.in_reply_to))
    if references:
        mime["References"] = " ".join(references)
    if message.is_automatic:
        # RFC 3834: "auto-replied" answers a message, "auto-generated" starts on its own.
        mime["Auto-Submitted"] = "auto-replied" if message.in_reply_to else "auto-generated"
        mime["X-Auto-Response-Suppress"] = "All"
    mime.set_content(message.text or "")
    if message.html:
        mime.add_alternative(message.html, subtype="html")
    for attachment in message.attachments:
        if attachment.data is None:
            continue  # nothing to send; the services decide whether that is acceptable
        content_type = attachment.content_type or "application/octet-stream"
        maintype, _, subtype = content_type.partition("/")
        mime.add_attachment(
            attachment.data,
            maintype=maintype or "application",
            subtype=subtype or "octet-stream",
            filename=safe_filename(attachment.filename, content_type=attachment.content_type),
        )
    return mime


class SmtpSender:
    """Deliver OutboundMessages over SMTP; refusals become receipts, never exceptions."""

    def __init__(self, settings: SmtpSettings, clock: Callable[[], datetime]) -> None:
        self.settings = settings
        self.clock = clock

    def _context(self) -> ssl.SSLContext:
        return self.settings.ssl_context or ssl.create_default_context()

    def _connect(self) -> smtplib.SMTP:
        settings = self.settings
        if settings.security == "tls":
            return smtplib.SMTP_SSL(
                settings.host,
                settings.port,
                local_hostname=settings.local_hostname,
                timeout=settings.timeout,
                context=self._context(),
            )
        connection = smtplib.SMTP(
            settings.host, settings.port, local_hostname=settings.local_hostname,
            timeout=settings.timeout,
        )
        if settings.security == "starttls":
            connection.starttls(context=self._context())
            connection.ehlo()
        return connection

    def send(self, message: OutboundMessage) -> DeliveryReceipt:
        try:
            mime = build_mime(message, self.settings, self.clock())
            recipient = checked_address(message.to.address)
            sender = checked_address(
                self.settings.envelope_from or message.from_address or self.settings.from_address
            )
        except (UnsafeHeaderError, ValueError, TypeError) as error:
            # The message itself is unusable (bad address, id or content): retrying cannot help.
            return DeliveryReceipt(
                accepted=False, status="invalid", error=str(error), permanent=True
            )
        message_id = str(mime["Message-ID"]).strip("<>")
        try:
            with self._connect() as connection:
                if self.settings.username:
                    connection.login(self.settings.username, self.settings.password or "")
                connection.send_message(mime, from_addr=sender, to_addrs=[recipient])
        except smtplib.SMTPRecipientsRefused as error:
            code, reason = error.recipients.get(recipient, (None, b""))
            return _refusal(code, reason, message_id)
        except smtplib.SMTPAuthenticationError as error:
            # Our credentials, not the message: retrying after the fix will work.
            return _refusal(error.smtp_code, error.smtp_error, message_id, permanent=False)
        except smtplib.SMTPResponseException as error:
            return _refusal(error.smtp_code, error.smtp_error, message_id)
        except (smtplib.SMTPException, OSError) as error:
            # Connection refused, timeouts, TLS failures: worth another try later.
            return DeliveryReceipt(
                accepted=False,
                provider_id=message_id,
                status="deferred",
                error=f"{type(error).__name__}: {error}",
                permanent=False,
            )
        return DeliveryReceipt(accepted=True, provider_id=message_id, status="sent")


def _refusal(
    code: int | None, reason: bytes | str, message_id: str, *, permanent: bool | None = None
) -> DeliveryReceipt:
    text = reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)
    if permanent is None:
        permanent = code is not None and 500 <= code < 600  # 4xx: the server asks us to retry
    is_permanent = permanent
    return DeliveryReceipt(
        accepted=False,
        provider_id=message_id,
        status="refused" if is_permanent else "deferred",
        error_code=str(code) if code is not None else None,
        error=text,
        permanent=is_permanent,
    )
