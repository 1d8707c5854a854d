"""SLA policies, the stored clocks of every ticket, breach reviews and sweep bookkeeping."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ticketing.clock import utcnow
from ticketing.db import UTCDateTime, db

if TYPE_CHECKING:
    from ticketing.models.ticket import Ticket
    from ticketing.models.user import User


class SlaPolicy(db.Model):
    """Targets and business calendar; the first active policy whose conditions match applies."""

    __tablename__ = "sla_policies"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200), unique=True)
    #: evaluation order, lowest first
    position: Mapped[int] = mapped_column(default=0)
    is_active: Mapped[bool] = mapped_column(default=True)
    #: {"channel": [...], "priority": [...], "customer_tag": [...], "team_id": [...]}; empty
    #: lists or missing keys match anything
    conditions: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    #: the calendar part of DESIGN.md's policy file: timezone, hours, holidays or "24/7"
    calendar: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    #: priority -> metric -> minutes
    targets: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    pause_statuses: Mapped[list[str]] = mapped_column(sa.JSON, default=lambda: ["pending"])
    warn_ratio: Mapped[float] = mapped_column(default=0.75)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SlaClock(db.Model):
    """One clock instance of a ticket, as last computed from its events."""

    __tablename__ = "sla_clocks"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(sa.ForeignKey("tickets.id", ondelete="CASCADE"))
    #: "first_response", "next_response", "resolution"
    metric: Mapped[str] = mapped_column(sa.String(32))
    #: cycles are numbered from 1; only next_response has more than one
    cycle: Mapped[int] = mapped_column(default=1)
    #: running, at_risk, paused, met, breached (as of the last refresh)
    state: Mapped[str] = mapped_column(sa.String(16))
    priority: Mapped[str] = mapped_column(sa.String(16))
    policy_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("sla_policies.id", ondelete="SET NULL")
    )
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: the instant elapsed business time reaches warn_ratio x target (None when paused)
    warn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    breached_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    elapsed_seconds: Mapped[int] = mapped_column(default=0)
    paused_seconds: Mapped[int] = mapped_column(default=0)
    target_seconds: Mapped[int] = mapped_column(default=0)
    #: start, pause, resume, retarget and stop instants with their reasons
    segments: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)
    #: whether the clock still runs (not stopped, not paused): the sweep only looks at these
    is_running: Mapped[bool] = mapped_column(default=True)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    ticket: Mapped[Ticket] = relationship(back_populates="clocks")
    review: Mapped[BreachReview | None] = relationship(back_populates="clock")

    __table_args__ = (
        sa.UniqueConstraint("ticket_id", "metric", "cycle"),
        # Partial indexes: the sweep reads only running clocks by their next deadline.
        sa.Index(
            "ix_sla_clocks_running_due",
            "due_at",
            postgresql_where=sa.text("is_running"),
            # SQLite uses a partial index only when the query repeats its term exactly, and
            # SQLAlchemy renders the boolean test as "is_running = 1" there.
            sqlite_where=sa.text("is_running = 1"),
        ),
        sa.Index(
            "ix_sla_clocks_running_warn",
            "warn_at",
            postgresql_where=sa.text("is_running"),
            # SQLite uses a partial index only when the query repeats its term exactly, and
            # SQLAlchemy renders the boolean test as "is_running = 1" there.
            sqlite_where=sa.text("is_running = 1"),
        ),
        # Supervisor reports count breaches by the instant they happened. Partial: only breached
        # clocks have the instant (a range on it implies IS NOT NULL on both databases). On
        # PostgreSQL the included columns make the breach trends index-only scans.
        sa.Index(
            "ix_sla_clocks_breached_at",
            "breached_at",
            postgresql_include=["metric", "state", "ticket_id", "priority", "policy_id"],
            postgresql_where=sa.text("breached_at IS NOT NULL"),
            sqlite_where=sa.text("breached_at IS NOT NULL"),
        ),
        # Supervisor reports: clocks stopped in a period. On PostgreSQL the index also carries
        # what hit rates, percentiles and trends read (an index-only scan, also when the report
        # joins tickets for a team, agent or channel filter).
        sa.Index(
            "ix_sla_clocks_stopped",
            "stopped_at",
            postgresql_include=[
                "metric", "state", "elapsed_seconds", "ticket_id", "priority", "policy_id",
            ],
        ),
    )


class BreachReview(db.Model):
    """A supervisor's acknowledgement, annotation or excuse of a breached clock; never deleted."""

    __tablename__ = "breach_reviews"

    id: Mapped[int] = mapped_column(primary_key=True)
    clock_id: Mapped[int] = mapped_column(
        sa.ForeignKey("sla_clocks.id", ondelete="CASCADE"), unique=True
    )
    #: "acknowledged", "excused", or "annotated" (a note without a decision yet)
    decision: Mapped[str] = mapped_column(sa.String(16))
    #: why the breach was acknowledged or excused
    reason: Mapped[str] = mapped_column(sa.Text, default="")
    #: the latest annotation; every earlier one stays in the ticket's "breach.reviewed" events
    note: Mapped[str | None] = mapped_column(sa.Text)
    reviewer_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    reviewed_at: Mapped[datetime] = mapped_column(UTCDateTime)

    clock: Mapped[SlaClock] = relationship(back_populates="review")
    reviewer: Mapped[User | None] = relationship()


class SweepState(db.Model):
    """Where each periodic sweep got to, so the next one takes a lower bound."""

    __tablename__ = "sweep_state"

    name: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    last_swept_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: sweeps over the event log (webhook catch-up): the newest ticket event id handled
    last_event_id: Mapped[int | None] = mapped_column()
    #: the newest event id seen at the previous run; the next run goes no further, so an
    #: event from a transaction still open then is not stepped over
    high_event_id: Mapped[int | None] = mapped_column()
