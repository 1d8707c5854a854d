"""Raw inbound input, stored before anything else happens; the quarantine lives here too."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ticketing.clock import utcnow
from ticketing.db import UTCDateTime, db
from ticketing.models.enums import InboundStatus, enum_values

if TYPE_CHECKING:
    from ticketing.models.user import User


class InboundRecord(db.Model):
    """One raw email, SMS webhook or form post exactly as it arrived."""

    __tablename__ = "inbound_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(sa.String(16))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: where it came from: a file path, "imap:INBOX/42", a remote address
    source: Mapped[str | None] = mapped_column(sa.String(500))
    #: transport facts needed to process it again (headers, form fields, public URL)
    envelope: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    #: the bytes as received: MIME source, webhook body or form body
    payload: Mapped[bytes] = mapped_column(sa.LargeBinary)
    sha256: Mapped[str] = mapped_column(sa.String(64), index=True)
    status: Mapped[InboundStatus] = mapped_column(
        sa.Enum(InboundStatus, native_enum=False, length=16, values_callable=enum_values),
        default=InboundStatus.received,
    )
    #: outcome in words for the operator: created, appended, duplicate, bounce, ...
    outcome: Mapped[str | None] = mapped_column(sa.String(32))
    #: why it was quarantined or ignored
    reason: Mapped[str | None] = mapped_column(sa.Text)
    ticket_id: Mapped[int | None] = mapped_column(sa.ForeignKey("tickets.id", ondelete="SET NULL"))
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: an admin released it from quarantine after a fix, or dismissed it
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: what the admin did: "reprocessed" or "dismissed"
    resolution: Mapped[str | None] = mapped_column(sa.String(16))
    resolved_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    #: the admin's reason to dismiss it, or the reason a reprocessed record had been quarantined
    resolution_note: Mapped[str | None] = mapped_column(sa.Text)

    resolved_by: Mapped[User | None] = relationship()

    __table_args__ = (sa.Index("ix_inbound_records_status_received", "status", "received_at"),)
