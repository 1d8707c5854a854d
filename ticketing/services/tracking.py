"""Private tracking links: unguessable tokens, stored hashed, revocable, with an expiry."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa

from ticketing.extensions import db
from ticketing.models import Ticket, TrackingToken


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_tracking_token(ticket: Ticket, *, now: datetime, valid_for: timedelta | None) -> str:
    """Create a token for the ticket and return it; only its hash is stored."""
    token = secrets.token_urlsafe(32)
    # No flush of its own: nothing reads the row back in this unit of work, and the caller's
    # next flush or commit writes it with everything else.
    db.session.add(
        TrackingToken(
            ticket=ticket,
            token_hash=_hash(token),
            created_at=now,
            expires_at=now + valid_for if valid_for else None,
        )
    )
    return token


def find_tracked_ticket(token: str, *, now: datetime) -> Ticket | None:
    """Return the ticket a valid token opens; wrong, expired and revoked tokens all give None."""
    if not token or len(token) > 200:
        return None
    row = db.session.scalar(
        sa.select(TrackingToken).where(TrackingToken.token_hash == _hash(token))
    )
    if row is None or row.revoked_at is not None:
        return None
    if row.expires_at is not None and row.expires_at <= now:
        return None
    ticket = db.session.get(Ticket, row.ticket_id)
    # A merged ticket's link keeps working: it shows the surviving ticket.
    while ticket is not None and ticket.merged_into_id is not None:
        ticket = db.session.get(Ticket, ticket.merged_into_id)
    return ticket


def revoke_tracking_tokens(ticket: Ticket, *, now: datetime) -> int:
    result = db.session.execute(
        sa.update(TrackingToken)
        .where(TrackingToken.ticket_id == ticket.id, TrackingToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return result.rowcount or 0
