"""Background tasks on Huey: thin, re-runnable wrappers that call one service and commit."""

from __future__ import annotations

import logging
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from flask import Flask, current_app, has_app_context
from huey import crontab

from ticketing.clock import utcnow
from ticketing.db import lock_for_writing
from ticketing.extensions import db, huey

log = logging.getLogger(__name__)

_bound_app: Flask | None = None


def bind_app(app: Flask) -> None:
    """Remember the app the worker's tasks run in (set by create_app)."""
    global _bound_app
    _bound_app = app


def _context() -> AbstractContextManager[Any]:
    if has_app_context():
        return nullcontext()
    if _bound_app is None:
        raise RuntimeError("no app bound to the task queue; start it with `flask worker`")
    return _bound_app.app_context()


def deliver_outbox(limit: int | None = None) -> dict[str, int]:
    """Send every due outbox row once; commit after each so a crash repeats nothing sent."""
    from channels.registry import outbound_sender
    from ticketing.domain.contact import DeliveryReceipt
    from ticketing.models import OutboxMessage
    from ticketing.services import outbox, sms

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    limit = limit or app.config["OUTBOX_BATCH_SIZE"]
    lock_for_writing()
    ids = outbox.claim_due(utcnow(), limit=limit)
    db.session.commit()
    summary = {"sent": 0, "failed": 0, "retrying": 0}
    for row_id in ids:
        lock_for_writing()
        row = db.session.get(OutboxMessage, row_id)
        if row is None:
            continue
        send, via = outbound_sender(app, row.channel)
        # A text queued before the customer sent STOP must not go out.
        receipt = sms.opt_out_refusal(row)
        if receipt is None:
            try:
                receipt = send(outbox.payload_to_outbound(row.payload))
            except Exception as error:  # noqa: BLE001 - an adapter bug must not stop the batch
                log.exception("outbox row %s: adapter raised", row_id)
                receipt = DeliveryReceipt(
                    accepted=False, error=f"{error.__class__.__name__}: {error}"
                )
        outbox.record_receipt(
            row, receipt, now=utcnow(), max_attempts=app.config["OUTBOX_MAX_ATTEMPTS"],
            delivered_via=via,
        )
        sms.apply_send_receipt(row, receipt, now=utcnow())  # Twilio 21610: the customer opted out
        db.session.commit()
        if receipt.accepted:
            summary["sent"] += 1
        elif row.status.value == "failed":
            summary["failed"] += 1
        else:
            summary["retrying"] += 1
    if ids:
        log.info("outbox: %s", summary)
    return summary


def kick_outbox() -> None:
    """Ask a worker to deliver the outbox now (inline when the queue runs immediately)."""
    try:
        deliver_outbox_task()
    except Exception:  # noqa: BLE001 - the periodic task delivers it later anyway
        log.exception("could not enqueue outbox delivery; the periodic task will retry")


@huey.task()
def deliver_outbox_task() -> dict[str, int]:
    with _context():
        return deliver_outbox()


@huey.periodic_task(crontab(minute="*"))
def deliver_outbox_periodically() -> dict[str, int]:
    with _context():
        return deliver_outbox()


@huey.periodic_task(crontab(minute="*"))
def sweep_sla_periodically() -> dict[str, int]:
    from ticketing.services.sla import sweep_clocks

    with _context():
        lock_for_writing()
        summary = sweep_clocks(now=utcnow())
        db.session.commit()
        if summary.get("sla.at_risk") or summary.get("sla.breached"):
            # Hand the news to escalation now rather than at its own next minute.
            from ticketing.jobs_escalation import sweep_escalations

            summary["escalations"] = sweep_escalations()
        summary.pop("breached_ticket_ids", None)
        return summary


@huey.periodic_task(crontab(minute="*"))
def poll_mailbox_periodically() -> dict[str, int] | None:
    with _context():
        if not current_app.config.get("IMAP_HOST"):
            return None
        from ticketing.mailbox import poll_configured_mailbox

        return poll_configured_mailbox(current_app._get_current_object())  # type: ignore[attr-defined]


@huey.periodic_task(crontab(minute="*"))
def deliver_webhooks_periodically() -> dict[str, int]:
    from ticketing.webhook_delivery import deliver_due

    with _context():
        lock_for_writing()
        return deliver_due(utcnow())


# Feature modules keep their tasks beside their features; importing them registers the tasks
# with the queue, so `flask worker` runs every periodic task.
from ticketing import jobs_escalation, jobs_inbound, jobs_sms  # noqa: E402, F401
