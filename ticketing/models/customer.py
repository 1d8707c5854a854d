"""Customers and the addresses (identities) through which they reach us."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ticketing.clock import utcnow
from ticketing.db import UTCDateTime, db

if TYPE_CHECKING:
    from ticketing.models.ticket import Tag, Ticket

customer_tags = sa.Table(
    "customer_tags",
    db.metadata,
    sa.Column("customer_id", sa.ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("tag_id", sa.ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True),
)


class Customer(db.Model):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: best known name; the first display name we saw, editable by agents
    name: Mapped[str | None] = mapped_column(sa.String(200))
    #: preferred language for customer-facing text ("nl", "en"), guessed from their messages
    language: Mapped[str | None] = mapped_column(sa.String(8))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    identities: Mapped[list[CustomerIdentity]] = relationship(
        back_populates="customer", order_by="CustomerIdentity.id"
    )
    tickets: Mapped[list[Ticket]] = relationship(back_populates="customer")
    tags: Mapped[list[Tag]] = relationship(secondary=customer_tags, order_by="Tag.name")

    __table_args__ = (
        # Agent search finds customers by the words of their name (services/queues.py), on
        # PostgreSQL only; SQLite searches with LIKE.
        sa.Index(
            "ix_customers_name_search",
            sa.text("to_tsvector('simple', name)"),
            postgresql_using="gin",
        ).ddl_if(dialect="postgresql"),
    )

    @property
    def display_name(self) -> str:
        if self.name:
            return self.name
        return self.identities[0].address if self.identities else f"customer #{self.id}"

    def __repr__(self) -> str:
        return f"<Customer {self.id} {self.name!r}>"


class CustomerIdentity(db.Model):
    """An e-mail address or phone number; each belongs to exactly one customer."""

    __tablename__ = "customer_identities"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        sa.ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    #: "email" or "phone"
    kind: Mapped[str] = mapped_column(sa.String(16))
    #: e-mail lower-cased, phone in E.164
    address: Mapped[str] = mapped_column(sa.String(320))
    display_name: Mapped[str | None] = mapped_column(sa.String(200))
    #: set when the customer texted STOP (or Twilio reported error 21610); cleared by START
    opted_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    opt_out_reason: Mapped[str | None] = mapped_column(sa.String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    customer: Mapped[Customer] = relationship(back_populates="identities")

    __table_args__ = (sa.UniqueConstraint("kind", "address"),)

    @property
    def is_opted_out(self) -> bool:
        return self.opted_out_at is not None

    def __repr__(self) -> str:
        return f"<CustomerIdentity {self.kind}:{self.address}>"
