"""Admins send quarantined inbound records through again, or dismiss them; nothing is deleted."""

from __future__ import annotations

from datetime import datetime

from ticketing.extensions import db
from ticketing.models import InboundRecord, InboundStatus, Role, User

#: longest reason an admin can give for dismissing a record
MAX_NOTE = 500
REPROCESSED = "reprocessed"
DISMISSED = "dismissed"


class QuarantineError(ValueError):
    """An action the record's state does not allow; the message is safe to show."""


def can_reprocess(record: InboundRecord) -> bool:
    """Whether the record may be taken in again: it is quarantined, or was dismissed."""
    return record.status == InboundStatus.quarantined or (
        record.status == InboundStatus.ignored and record.resolution == DISMISSED
    )


def can_dismiss(record: InboundRecord) -> bool:
    return record.status == InboundStatus.quarantined


def release_for_reprocessing(record: InboundRecord, *, actor: User, now: datetime) -> None:
    """Put a quarantined or dismissed record back to "received", noting who released it.

    The caller hands the record to `pipeline.process_record` next. If processing fails again,
    the pipeline's rollback drops this release with everything else, and the record stays in
    quarantine with the new reason; only a success keeps the resolution written here.

    Raises:
        QuarantineError: the record is not quarantined or dismissed.
        PermissionError: the actor is not an admin.
    """
    _require_admin(actor)
    if not can_reprocess(record):
        raise QuarantineError(
            f"only a quarantined or dismissed record can be processed again "
            f"(this one is {record.status.value})"
        )
    # The quarantine reason is about to be replaced by the new outcome; keep it beside it.
    earlier = record.reason
    record.status = InboundStatus.received
    record.outcome = None
    record.reason = None
    record.processed_at = None
    record.ticket_id = None
    record.resolution = REPROCESSED
    record.resolved_at = now
    record.resolved_by_id = actor.id
    record.resolution_note = earlier
    db.session.flush()


def dismiss(record: InboundRecord, *, reason: str, actor: User, now: datetime) -> None:
    """Take a quarantined record out of the quarantine without processing it.

    The raw bytes and the quarantine reason stay; the record becomes "ignored" with outcome
    "dismissed", so the quarantine shows only what still needs a decision.

    Raises:
        QuarantineError: the record is not quarantined, or no reason was given.
        PermissionError: the actor is not an admin.
    """
    _require_admin(actor)
    if not can_dismiss(record):
        raise QuarantineError(
            f"only a quarantined record can be dismissed (this one is {record.status.value})"
        )
    reason = (reason or "").strip()
    if not reason:
        raise QuarantineError("say why the record is dismissed")
    if len(reason) > MAX_NOTE:
        raise QuarantineError(f"keep the reason under {MAX_NOTE} characters")
    record.status = InboundStatus.ignored
    record.outcome = DISMISSED
    record.resolution = DISMISSED
    record.resolved_at = now
    record.resolved_by_id = actor.id
    record.resolution_note = reason
    db.session.flush()


def _require_admin(actor: User) -> None:
    if not actor.has_role(Role.admin):
        raise PermissionError("only admins act on the inbound quarantine")
