"""Background tasks for SMS: fetch MMS media into attachment storage (thin, re-runnable)."""

from __future__ import annotations

import logging
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from flask import current_app, has_app_context
from huey import crontab

from ticketing.extensions import db, huey

log = logging.getLogger(__name__)

#: attachments one run fetches at most, so a backlog never makes one task run for hours
MEDIA_BATCH_SIZE = 50


def _context() -> AbstractContextManager[Any]:
    if has_app_context():
        return nullcontext()
    from ticketing import jobs  # the worker binds its app there

    return jobs._context()


def media_fetch_configured(config: Any) -> bool:
    """Whether we hold the Twilio credentials media downloads need."""
    from channels.registry import UNCONFIGURED_TWILIO_SID

    sid = config.get("TWILIO_ACCOUNT_SID")
    return bool(sid and sid != UNCONFIGURED_TWILIO_SID and config.get("TWILIO_AUTH_TOKEN"))


def fetch_sms_media(message_id: int | None = None, limit: int = MEDIA_BATCH_SIZE) -> dict[str, int]:
    """Fetch pending MMS media (of one message, or the oldest pending); commit after each file.

    Without Twilio credentials nothing is fetched: the attachments keep their URLs, and a later
    run fetches them once credentials are configured.
    """
    from ticketing.services import media
    from ticketing.services.attachments import AttachmentStore

    config = current_app.config
    summary = {"stored": 0, "failed": 0, "gone": 0}
    if not media_fetch_configured(config):
        return summary
    fetcher = media.TwilioMediaFetcher(
        config["TWILIO_ACCOUNT_SID"],
        config["TWILIO_AUTH_TOKEN"],
        max_bytes=config["ATTACHMENT_MAX_BYTES"],
        api_base_url=config.get("TWILIO_API_BASE_URL"),
    )
    store = AttachmentStore(config["ATTACHMENT_STORAGE_PATH"])
    items = media.pending_media(limit=limit, message_id=message_id)
    db.session.commit()  # end the read transaction before the downloads
    for item in items:
        outcome = media.fetch_one(item, fetcher, store=store)
        db.session.commit()
        summary[outcome] += 1
    if items:
        log.info("sms media: %s", summary)
    return summary


def queue_media_fetch(message_id: int) -> None:
    """Ask a worker to fetch one message's media now (inline when the queue runs immediately)."""
    if not media_fetch_configured(current_app.config):
        return
    try:
        fetch_sms_media_task(message_id)
    except Exception:  # noqa: BLE001 - the periodic task fetches it later anyway
        log.exception("could not enqueue the media fetch; the periodic task will retry")


@huey.task()
def fetch_sms_media_task(message_id: int) -> dict[str, int]:
    with _context():
        return fetch_sms_media(message_id)


@huey.periodic_task(crontab(minute="*/5"))
def fetch_sms_media_periodically() -> dict[str, int]:
    """Retry temporary failures and pick up media left while credentials were missing."""
    with _context():
        return fetch_sms_media()
