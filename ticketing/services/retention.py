"""Retention of raw inbound records: what customers sent, as it came, is not kept for ever."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from ticketing.extensions import db
from ticketing.models import InboundRecord, InboundStatus

#: Records that were taken in (or deliberately left out): their content lives on in the ticket
#: messages. Quarantined and still-waiting records are never purged: they need someone first.
PURGEABLE = (InboundStatus.processed, InboundStatus.duplicate, InboundStatus.ignored)
#: records deleted per statement, so one purge never holds a long lock on a busy table
PURGE_BATCH_SIZE = 1000


def purge_raw_records(now: datetime, *, keep: timedelta, limit: int = PURGE_BATCH_SIZE) -> int:
    """Delete up to `limit` taken-in raw records that arrived before `now - keep`; their count.

    Messages keep their text, attachments and ticket; only their link to the raw record goes
    (the foreign key sets it to NULL). The caller commits, and calls again while it returns
    `limit`.
    """
    ids = list(
        db.session.scalars(
            sa.select(InboundRecord.id)
            .where(
                InboundRecord.status.in_(PURGEABLE),
                InboundRecord.received_at < now - keep,
            )
            .order_by(InboundRecord.id)
            .limit(limit)
        )
    )
    if ids:
        db.session.execute(sa.delete(InboundRecord).where(InboundRecord.id.in_(ids)))
    return len(ids)
