"""Web form adapter: the public complaint form's fields to a Contact."""

from __future__ import annotations

from typing import Any, ClassVar

from channels.base import ChannelAdapter
from channels.phone import normalise_phone
from ticketing.domain.contact import (
    Channel,
    Contact,
    DeliveryReceipt,
    Identity,
    IdentityKind,
    InboundAttachment,
    InboundRequest,
    InvalidInbound,
    OutboundMessage,
)

#: A field real people never see (hidden by CSS and aria); bots fill it in.
HONEYPOT_FIELD = "website"
MAX_NAME = 200
MAX_MESSAGE = 20_000


def _clean_line(value: Any, limit: int) -> str:
    # Names and addresses may end up in mail headers: no control characters, one line.
    text = str(value or "")
    text = "".join(ch if ch.isprintable() else " " for ch in text)
    return " ".join(text.split())[:limit]


class WebFormAdapter(ChannelAdapter):
    """Translate a validated form submission (fields plus uploaded files) into a Contact.

    The web layer validates for the customer's sake (friendly errors); this adapter validates
    again for the data's sake, because a quarantined record must say why it was refused.
    """

    channel: ClassVar[Channel] = Channel.web
    supports_attachments: ClassVar[bool] = True

    def __init__(self, default_region: str = "NL") -> None:
        self.default_region = default_region

    def parse_inbound(self, request: InboundRequest) -> list[Contact]:
        if request.received_at is None:
            raise ValueError("the entry point must say when the submission was received")
        form = request.form
        if str(form.get(HONEYPOT_FIELD) or "").strip():
            raise InvalidInbound("honeypot field filled in: probably a bot")
        submission_id = _clean_line(form.get("submission_id"), 100)
        if not submission_id:
            raise InvalidInbound("submission without an id")
        name = _clean_line(form.get("name"), MAX_NAME) or None
        email = _clean_line(form.get("email"), 320).lower()
        phone_raw = _clean_line(form.get("phone"), 40)
        identities: list[Identity] = []
        if email:
            if "@" not in email or email.startswith("@") or email.endswith("@"):
                raise InvalidInbound(f"not an e-mail address: {email!r}")
            identities.append(Identity(IdentityKind.email, email, name))
        if phone_raw:
            try:
                phone = normalise_phone(phone_raw, self.default_region)
            except ValueError:
                raise InvalidInbound(f"not a phone number: {phone_raw!r}") from None
            identities.append(Identity(IdentityKind.phone, phone, name))
        if not identities:
            raise InvalidInbound("neither an e-mail address nor a phone number")
        text = str(form.get("message") or "").replace("\r\n", "\n").strip()[:MAX_MESSAGE]
        attachments = tuple(
            item for item in form.get("attachments", ()) if isinstance(item, InboundAttachment)
        )
        if not text and not attachments:
            raise InvalidInbound("empty message")
        category = _clean_line(form.get("category"), 64) or None
        order = _clean_line(form.get("order_number"), 64) or None
        subject = _clean_line(form.get("subject"), 200) or None
        if subject is None and category:
            subject = category
        metadata: dict[str, Any] = {
            key: value
            for key, value in {
                "category": category,
                "order_number": order,
                "ticket_id": form.get("ticket_id"),
                "language": form.get("language"),
            }.items()
            if value
        }
        return [
            Contact(
                channel=Channel.web,
                external_id=submission_id,
                sender=identities[0],
                other_identities=tuple(identities[1:]),
                received_at=request.received_at,
                text=text,
                new_text=text,
                subject=subject,
                language=str(form.get("language") or "") or None,
                attachments=attachments,
                metadata=metadata,
            )
        ]

    def send(self, message: OutboundMessage) -> DeliveryReceipt:
        # The form has no way back to the customer; answers go by e-mail or SMS.
        return DeliveryReceipt(
            accepted=False, permanent=True, error="the web form cannot deliver messages"
        )
