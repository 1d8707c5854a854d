"""The outbox: outbound messages written with the reply, delivered after commit by a worker."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ticketing.clock import utcnow
from ticketing.db import UTCDateTime, db
from ticketing.models.enums import OutboxStatus, enum_values

if TYPE_CHECKING:
    from ticketing.models.message import Message
    from ticketing.models.ticket import Ticket


class OutboxMessage(db.Model):
    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: the ticket message this delivers; None for staff notifications
    message_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("messages.id", ondelete="SET NULL"), index=True
    )
    ticket_id: Mapped[int | None] = mapped_column(sa.ForeignKey("tickets.id", ondelete="SET NULL"))
    channel: Mapped[str] = mapped_column(sa.String(16))
    #: "reply", "acknowledgement", "notification"
    purpose: Mapped[str] = mapped_column(sa.String(32), default="reply")
    #: e-mail address or E.164 number
    recipient: Mapped[str] = mapped_column(sa.String(320))
    #: the OutboundMessage as JSON, fully decided when written
    payload: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    status: Mapped[OutboxStatus] = mapped_column(
        sa.Enum(OutboxStatus, native_enum=False, length=16, values_callable=enum_values),
        default=OutboxStatus.pending,
    )
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: a worker claims a row by setting this; an expired claim is taken over
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    provider_id: Mapped[str | None] = mapped_column(sa.String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: "dev" when no provider is configured and the message only went to /dev/outbox
    delivered_via: Mapped[str | None] = mapped_column(sa.String(16))

    # Written with the message and ticket in one flush, before either has its id.
    message: Mapped[Message | None] = relationship()
    ticket: Mapped[Ticket | None] = relationship()

    __table_args__ = (
        sa.Index("ix_outbox_status_next_attempt", "status", "next_attempt_at"),
        sa.Index("ix_outbox_recipient_purpose_created", "recipient", "purpose", "created_at"),
    )
