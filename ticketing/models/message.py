"""Messages on a ticket (inbound, outbound and internal notes) and their attachments."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ticketing.clock import utcnow
from ticketing.db import UTCDateTime, db
from ticketing.models.enums import DeliveryState, Direction, enum_values

if TYPE_CHECKING:
    from ticketing.models.customer import CustomerIdentity
    from ticketing.models.inbound import InboundRecord
    from ticketing.models.ticket import Ticket
    from ticketing.models.user import User


class Message(db.Model):
    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(sa.ForeignKey("tickets.id", ondelete="CASCADE"))
    direction: Mapped[Direction] = mapped_column(
        sa.Enum(Direction, native_enum=False, length=8, values_callable=enum_values)
    )
    #: "email", "sms", "web" (notes: the channel of the ticket)
    channel: Mapped[str] = mapped_column(sa.String(16))
    #: "message", "auto_reply", "bounce", "opt_out", "opt_in", "help", "acknowledgement"
    kind: Mapped[str] = mapped_column(sa.String(32), default="message")
    #: provider id that makes redelivery a no-op: Message-ID, MessageSid, form submission id
    external_id: Mapped[str | None] = mapped_column(sa.String(500))
    #: RFC 5322 Message-ID of inbound and outbound mail, for threading replies
    rfc_message_id: Mapped[str | None] = mapped_column(sa.String(500), index=True)
    author_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    #: the customer address it came from (inbound) or went to (outbound)
    identity_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("customer_identities.id", ondelete="SET NULL")
    )
    #: the raw source it was parsed from: nothing a customer sent is ever lost
    inbound_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("inbound_records.id", ondelete="SET NULL")
    )
    subject: Mapped[str | None] = mapped_column(sa.String(500))
    #: the whole readable text
    text: Mapped[str] = mapped_column(sa.Text, default="")
    #: the customer's own new words (quotes and signature removed); again-cues index into it
    new_text: Mapped[str] = mapped_column(sa.Text, default="")
    #: sanitised HTML for display in a sandboxed frame, never the raw HTML
    html: Mapped[str | None] = mapped_column(sa.Text)
    language: Mapped[str | None] = mapped_column(sa.String(8))
    #: again-cue spans in new_text: [{"start", "end", "match", "kind"}]
    again_cues: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)
    is_automatic: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: outbound delivery as reported by the provider
    delivery_state: Mapped[DeliveryState | None] = mapped_column(
        sa.Enum(DeliveryState, native_enum=False, length=16, values_callable=enum_values)
    )
    delivery_error: Mapped[str | None] = mapped_column(sa.String(500))
    #: the provider's error code for a failed delivery (Twilio 30003, 21610, ...)
    delivery_error_code: Mapped[str | None] = mapped_column(sa.String(16))
    delivery_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: the provider's id for outbound messages (Twilio MessageSid, our Message-ID)
    provider_id: Mapped[str | None] = mapped_column(sa.String(500), index=True)
    #: channel extras: recipients, MMS media, form category, parser defects
    meta: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)

    ticket: Mapped[Ticket] = relationship(back_populates="messages")
    author: Mapped[User | None] = relationship()
    identity: Mapped[CustomerIdentity | None] = relationship()
    inbound: Mapped[InboundRecord | None] = relationship()
    attachments: Mapped[list[Attachment]] = relationship(
        back_populates="message", order_by="Attachment.id"
    )

    __table_args__ = (
        sa.UniqueConstraint("channel", "external_id"),
        sa.Index("ix_messages_ticket_created", "ticket_id", "created_at"),
        # SMS threading finds the tickets a phone number wrote on (services/intake.py); without
        # it every inbound text scanned the whole table.
        sa.Index("ix_messages_identity_created", "identity_id", "created_at"),
        # Word search over customers' own words (agent search, services/queues.py), on
        # PostgreSQL only; the expression must stay the one the search query uses. SQLite
        # searches with LIKE instead.
        sa.Index(
            "ix_messages_new_text_search",
            sa.text("to_tsvector('simple', new_text)"),
            postgresql_using="gin",
        ).ddl_if(dialect="postgresql"),
    )

    @property
    def is_public(self) -> bool:
        return self.direction != Direction.note


class MessageReference(db.Model):
    """A Message-ID an e-mail named in In-Reply-To or References.

    When a reply is read before its original (batch imports, slow relays), the reply opens a
    ticket; when the original arrives later, this table finds that ticket so both end up together.
    """

    __tablename__ = "message_references"

    message_id: Mapped[int] = mapped_column(
        sa.ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True
    )
    rfc_message_id: Mapped[str] = mapped_column(sa.String(500), primary_key=True, index=True)

    message: Mapped[Message] = relationship()


class Attachment(db.Model):
    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(
        sa.ForeignKey("messages.id", ondelete="CASCADE"), index=True
    )
    #: safe for display and download headers
    filename: Mapped[str] = mapped_column(sa.String(255))
    content_type: Mapped[str] = mapped_column(sa.String(255))
    size: Mapped[int] = mapped_column(default=0)
    #: content hash; the file is stored once under it
    sha256: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    #: remote media not (yet) fetched, e.g. an MMS URL
    url: Mapped[str | None] = mapped_column(sa.String(1000))
    content_id: Mapped[str | None] = mapped_column(sa.String(255))
    is_inline: Mapped[bool] = mapped_column(default=False)
    #: why the content is missing (too large, fetch failed)
    error: Mapped[str | None] = mapped_column(sa.String(500))
    #: downloads tried for remote media (MMS); a permanent failure sets it to the maximum
    fetch_attempts: Mapped[int] = mapped_column(default=0, server_default="0")

    message: Mapped[Message] = relationship(back_populates="attachments")
