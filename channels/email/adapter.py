"""The e-mail channel adapter: raw RFC 822 in, SMTP out; it only translates."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import ClassVar

from channels.base import ChannelAdapter
from channels.email.parse import DEFAULT_TICKET_REF_PATTERN, ParseOptions, parse_message
from channels.email.smtp import SmtpSender, SmtpSettings
from ticketing.domain.contact import (
    Channel,
    Contact,
    DeliveryReceipt,
    InboundRequest,
    InvalidInbound,
    OutboundMessage,
)

# Transport headers an entry point may pass with the raw bytes to name the SMTP envelope sender.
_ENVELOPE_HEADERS = ("envelope-from", "x-envelope-from", "mail-from")


class EmailAdapter(ChannelAdapter):
    """Translate raw mail into Contacts and deliver OutboundMessages over SMTP."""

    channel: ClassVar[Channel] = Channel.email
    body_max_length: ClassVar[int | None] = None
    supports_html: ClassVar[bool] = True
    supports_attachments: ClassVar[bool] = True
    supports_subject: ClassVar[bool] = True

    def __init__(
        self,
        *,
        smtp: SmtpSettings | None = None,
        clock: Callable[[], datetime] | None = None,
        ticket_ref_pattern: str = DEFAULT_TICKET_REF_PATTERN,
        allow_remote_images: bool = False,
        parse_options: ParseOptions | None = None,
    ) -> None:
        """Configure parsing and, when smtp is given, sending.

        Args:
            smtp: the SMTP server to send through; without it send() refuses every message.
            clock: returns the current tz-aware time for the Date header (ticketing.clock);
                required with smtp, because adapters never read the system clock.
            ticket_ref_pattern: regex whose first group is the ticket reference in a subject.
            allow_remote_images: keep remote <img> sources in sanitised HTML (default: block).
            parse_options: all parsing limits; overrides the two options above when given.
        """
        if smtp is not None and clock is None:
            raise ValueError("EmailAdapter needs a clock to date outgoing mail")
        re.compile(ticket_ref_pattern)  # fail at start-up, not on the first message
        self.parse_options = parse_options or ParseOptions(
            ticket_ref_pattern=ticket_ref_pattern, allow_remote_images=allow_remote_images
        )
        self._sender = SmtpSender(smtp, clock) if smtp is not None and clock else None

    def parse_inbound(self, request: InboundRequest) -> list[Contact]:
        """Parse one raw message (request.body); raise InvalidInbound when it is unusable."""
        if request.channel is not Channel.email:
            raise InvalidInbound(f"the e-mail adapter cannot read {request.channel.value} input")
        contact = parse_message(
            request.body,
            received_at=request.received_at,
            options=self.parse_options,
            envelope_sender=_envelope_sender(request.headers),
        )
        if request.source:
            contact = dataclasses.replace(
                contact, metadata={**contact.metadata, "source": request.source}
            )
        return [contact]

    def send(self, message: OutboundMessage) -> DeliveryReceipt:
        """Deliver over SMTP; refusals and outages come back as receipts, never exceptions."""
        if self._sender is None:
            return DeliveryReceipt(
                accepted=False, status="unconfigured", error="no SMTP server configured"
            )
        return self._sender.send(message)


def _envelope_sender(headers: Mapping[str, str]) -> str | None:
    lowered = {name.lower(): value for name, value in headers.items()}
    for name in _ENVELOPE_HEADERS:
        value = lowered.get(name, "").strip().strip("<>")
        if "@" in value:
            return value
    return None
