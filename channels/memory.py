"""In-memory adapter for tests: inbound from plain dicts, outbound recorded in a list."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import ClassVar

from channels.base import ChannelAdapter
from ticketing.domain.contact import (
    Channel,
    Contact,
    ContactKind,
    DeliveryReceipt,
    Identity,
    IdentityKind,
    InboundRequest,
    InvalidInbound,
    OutboundMessage,
    ThreadHints,
)


class MemoryAdapter(ChannelAdapter):
    """Takes JSON objects {"id", "from", "text", ...}; remembers what it was asked to send."""

    channel: ClassVar[Channel] = Channel.memory
    supports_subject: ClassVar[bool] = True

    def __init__(self) -> None:
        self.sent: list[OutboundMessage] = []
        #: receipts to hand out next, for tests of refusals; empty means "accepted"
        self.scripted: list[DeliveryReceipt] = []

    def parse_inbound(self, request: InboundRequest) -> list[Contact]:
        try:
            data = json.loads(request.body)
        except ValueError as error:
            raise InvalidInbound(f"not JSON: {error}") from None
        if not isinstance(data, dict) or not data.get("id") or not data.get("from"):
            raise InvalidInbound("a memory contact needs an id and a from address")
        address = str(data["from"]).strip().lower()
        kind = IdentityKind.phone if address.startswith("+") else IdentityKind.email
        text = str(data.get("text", ""))
        return [
            Contact(
                channel=Channel.memory,
                external_id=str(data["id"]),
                sender=Identity(kind, address, data.get("name")),
                received_at=request.received_at or datetime.fromtimestamp(0, UTC),
                text=text,
                new_text=text,
                subject=data.get("subject"),
                kind=ContactKind(data.get("kind", "message")),
                language=data.get("lang"),
                thread=ThreadHints(message_id=data.get("message_id")),
            )
        ]

    def send(self, message: OutboundMessage) -> DeliveryReceipt:
        self.sent.append(message)
        if self.scripted:
            return self.scripted.pop(0)
        return DeliveryReceipt(accepted=True, provider_id=f"mem-{len(self.sent)}", status="sent")
