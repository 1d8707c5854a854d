"""Escalation rules, their per-ticket arming state and the log of what fired."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ticketing.clock import utcnow
from ticketing.db import UTCDateTime, db

if TYPE_CHECKING:
    from ticketing.models.ticket import Ticket


class EscalationRule(db.Model):
    __tablename__ = "escalation_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200), unique=True)
    description: Mapped[str] = mapped_column(sa.Text, default="")
    is_enabled: Mapped[bool] = mapped_column(default=True)
    position: Mapped[int] = mapped_column(default=0)
    #: "all" or "any" of the conditions
    match: Mapped[str] = mapped_column(sa.String(8), default="all")
    #: [{"field": ..., "op": ..., "value": ...}]
    conditions: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)
    #: [{"type": "notify", "target": "supervisors", ...}]
    actions: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: the sweep's keyset position for this rule: every time-based flip up to
    #: (swept_to, swept_after_ticket_id) has been evaluated; None means start from the beginning
    #: (a new, edited or re-enabled rule catches up on tickets that crossed its thresholds before)
    swept_to: Mapped[datetime | None] = mapped_column(UTCDateTime)
    swept_after_ticket_id: Mapped[int] = mapped_column(default=0)


class EscalationRuleState(db.Model):
    """Whether a rule currently matches a ticket; a rule re-arms when this goes false."""

    __tablename__ = "escalation_rule_states"

    rule_id: Mapped[int] = mapped_column(
        sa.ForeignKey("escalation_rules.id", ondelete="CASCADE"), primary_key=True
    )
    ticket_id: Mapped[int] = mapped_column(
        sa.ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True
    )
    #: increases each time the condition becomes true again after being false
    episode: Mapped[int] = mapped_column(default=0)
    is_matching: Mapped[bool] = mapped_column(default=False)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class EscalationFiring(db.Model):
    """A rule fired for a ticket: once per episode, enforced by the unique constraint."""

    __tablename__ = "escalation_firings"

    id: Mapped[int] = mapped_column(primary_key=True)
    rule_id: Mapped[int] = mapped_column(sa.ForeignKey("escalation_rules.id", ondelete="CASCADE"))
    ticket_id: Mapped[int] = mapped_column(sa.ForeignKey("tickets.id", ondelete="CASCADE"))
    episode: Mapped[int] = mapped_column()
    fired_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: "event:<type>" or "sweep"
    trigger: Mapped[str] = mapped_column(sa.String(64))
    #: why it matched, in words
    reason: Mapped[str] = mapped_column(sa.Text, default="")
    #: what the actions did
    outcome: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)

    ticket: Mapped[Ticket] = relationship()
    rule: Mapped[EscalationRule] = relationship()

    __table_args__ = (
        sa.UniqueConstraint("rule_id", "ticket_id", "episode"),
        sa.Index("ix_escalation_firings_fired_at", "fired_at"),
        sa.Index("ix_escalation_firings_ticket", "ticket_id", "fired_at"),
    )
