"""API tokens and outbound webhooks for integrations."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ticketing.clock import utcnow
from ticketing.db import UTCDateTime, db

if TYPE_CHECKING:
    from ticketing.models.user import User


class ApiToken(db.Model):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    #: SHA-256 of the secret; the secret is shown once at creation
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    #: first characters of the token, to tell tokens apart in lists
    prefix: Mapped[str] = mapped_column(sa.String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()


class WebhookEndpoint(db.Model):
    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(sa.String(1000))
    #: HMAC-SHA256 key for the signature header
    secret: Mapped[str] = mapped_column(sa.String(200))
    #: subscribed event names; empty means all
    events: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: what the receiving system is, for the admin page
    description: Mapped[str] = mapped_column(sa.String(200), default="")
    created_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: ticket events up to this id are never sent here: set when the endpoint is created,
    #: re-activated or subscribes to more events, so it never receives a replay of history
    starts_after_event_id: Mapped[int] = mapped_column(default=0)
    #: why delivery switched the endpoint off (the receiver answered 410 Gone)
    disabled_reason: Mapped[str | None] = mapped_column(sa.String(500))

    deliveries: Mapped[list[WebhookDelivery]] = relationship(
        back_populates="endpoint", passive_deletes=True
    )


class WebhookDelivery(db.Model):
    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(
        sa.ForeignKey("webhook_endpoints.id", ondelete="CASCADE")
    )
    #: sent as a header; receivers de-duplicate on it
    delivery_id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    event: Mapped[str] = mapped_column(sa.String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    #: "pending", "delivered", "failed"
    status: Mapped[str] = mapped_column(sa.String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_status_code: Mapped[int | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: the ticket the event is about (None for pings)
    ticket_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("tickets.id", ondelete="SET NULL")
    )
    #: the newest ticket event this delivery covers: where the next delivery for the same
    #: endpoint and ticket starts looking, so an event is never announced twice
    ticket_event_id: Mapped[int | None] = mapped_column()
    #: a worker claims a row by setting this; an expired claim is taken over
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)

    endpoint: Mapped[WebhookEndpoint] = relationship(back_populates="deliveries")
    attempt_log: Mapped[list[WebhookAttempt]] = relationship(
        back_populates="delivery", order_by="WebhookAttempt.id", passive_deletes=True
    )

    __table_args__ = (
        sa.Index("ix_webhook_deliveries_status_next", "status", "next_attempt_at"),
        sa.Index(
            "ix_webhook_deliveries_endpoint_ticket", "endpoint_id", "ticket_id", "ticket_event_id"
        ),
        sa.Index("ix_webhook_deliveries_endpoint_id_desc", "endpoint_id", "id"),
    )


class WebhookAttempt(db.Model):
    """One HTTP attempt of a delivery: the delivery log admins read when a receiver fails."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    webhook_delivery_id: Mapped[int] = mapped_column(
        sa.ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True
    )
    #: 1 for the first attempt; manual redeliveries continue the count
    number: Mapped[int] = mapped_column(default=1)
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: the HTTP status the receiver answered; None when no answer came (timeout, refused)
    status_code: Mapped[int | None] = mapped_column()
    #: transport error or a short description of a refusal
    error: Mapped[str | None] = mapped_column(sa.String(1000))
    duration_ms: Mapped[int] = mapped_column(default=0)
    #: the start of the receiver's answer, for debugging
    response_excerpt: Mapped[str | None] = mapped_column(sa.Text)

    delivery: Mapped[WebhookDelivery] = relationship(back_populates="attempt_log")
