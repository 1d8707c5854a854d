"""Outbound webhooks: endpoints, and deliveries queued with every ticket change (sent later)."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa

from ticketing.extensions import db
from ticketing.models import (
    Direction,
    Message,
    SweepState,
    Ticket,
    TicketEvent,
    User,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from ticketing.schemas import (
    PING_EVENT,
    SUMMARY_FIELDS,
    WEBHOOK_EVENTS,
    ClockDumpSchema,
    EventDumpSchema,
    MessageDumpSchema,
    TicketDumpSchema,
    format_utc,
)
from ticketing.services.outbox import backoff

#: how long a worker may hold a claimed delivery before another worker may take it over
CLAIM_LEASE = timedelta(minutes=5)
#: the most ticket events one change is announced from (a bound against pathological tickets)
MAX_EVENTS_PER_CHANGE = 200
#: the SweepState row of the catch-up pass over the event log
CATCH_UP_STATE = "webhooks"
#: events older than this are never announced: once the delivery log of a ticket is pruned,
#: its next change must not replay the history the pruned deliveries covered
REPLAY_HORIZON = timedelta(days=7)
#: the delivery log is kept at least this long (longer than the replay horizon)
MIN_LOG_DAYS = 8
#: ticket event types that are a change of the ticket as a whole (besides every "*.changed")
_UPDATE_TYPES = frozenset(
    {
        "ticket.reopened",
        "ticket.assigned",
        "ticket.unassigned",
        "ticket.merged",
        "ticket.linked",
        "ticket.unlinked",
        "repeat.linked",
        "message.split",
        "reply.sent",
        "note.added",
        "tags.added",
        "tags.removed",
    }
)

_ticket_summary = TicketDumpSchema(only=SUMMARY_FIELDS)
_events_dump = EventDumpSchema(many=True)
_message_dump = MessageDumpSchema()
_clocks_dump = ClockDumpSchema(many=True)


class WebhookError(ValueError):
    """An endpoint setting that cannot work; the message is safe to show."""


@dataclass(frozen=True)
class AttemptResult:
    """What happened when a delivery was POSTed once."""

    #: the receiver's HTTP status; None when no answer came
    status_code: int | None
    duration_ms: int = 0
    error: str | None = None
    response_excerpt: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def endpoint_gone(self) -> bool:
        # 410 Gone is the receiver's way to say "stop sending": honour it at once.
        return self.status_code == 410


def webhook_event_for(event_type: str) -> str | None:
    """Name the webhook event a ticket event announces, or None if it announces none.

    The mapping is by pattern so that event types added by other features (a new "*.changed",
    another SLA warning name) are announced without touching this module.
    """
    if event_type == "ticket.created":
        return "ticket.created"
    if event_type == "message.received":
        return "message.received"
    if event_type.startswith("sla."):
        if "breach" in event_type:
            return "sla.breached"
        if "risk" in event_type or "warn" in event_type:
            return "sla.at_risk"
        return None
    if event_type == "ticket.escalated" or (
        event_type.startswith("escalation.") and event_type.endswith((".fired", ".triggered"))
    ):
        return "ticket.escalated"
    if event_type in _UPDATE_TYPES or event_type.endswith(".changed"):
        return "ticket.updated"
    return None


def group_events(events: Iterable[TicketEvent]) -> list[tuple[str, list[TicketEvent]]]:
    """Bundle new ticket events into webhook events, in the order they happened.

    Each customer message is its own `message.received`; everything else of one kind that
    happened in one change is one webhook (a status and a priority change: one ticket.updated).
    """
    groups: list[tuple[str, list[TicketEvent]]] = []
    by_name: dict[str, list[TicketEvent]] = {}
    for event in events:
        name = webhook_event_for(event.type)
        if name is None or _is_copy(event):
            continue
        if name == "message.received" or name not in by_name:
            bundle: list[TicketEvent] = []
            groups.append((name, bundle))
            if name != "message.received":
                by_name[name] = bundle
        else:
            bundle = by_name[name]
        bundle.append(event)
    return groups


def _is_copy(event: TicketEvent) -> bool:
    # A merge copies the customer messages and replies onto the surviving ticket, and a split
    # records the moved message again on the new ticket; both were announced when they happened.
    data = event.data or {}
    return event.type in ("message.received", "reply.sent") and bool(
        data.get("merged_from") or data.get("split_from")
    )


def active_endpoints() -> list[WebhookEndpoint]:
    return list(db.session.scalars(sa.select(WebhookEndpoint).where(WebhookEndpoint.is_active)))


def ticket_event(
    ticket: Ticket, trigger: str, *, now: datetime,
    endpoints: Sequence[WebhookEndpoint] | None = None,
) -> list[WebhookDelivery]:
    """Queue deliveries of the ticket's new events to every subscribed, active endpoint.

    Called by `services.tickets.ticket_changed` after every change, in the same transaction;
    nothing is sent here. Which events are new is decided per endpoint from the newest event
    its earlier deliveries for this ticket covered, so calling this twice queues nothing twice.
    `endpoints` is `active_endpoints()` when the caller already has it (a batch of tickets).
    """
    endpoints = active_endpoints() if endpoints is None else endpoints
    if not endpoints or ticket.id is None:
        return []
    db.session.flush()
    floors = {endpoint.id: endpoint.starts_after_event_id for endpoint in endpoints}
    covered = db.session.execute(
        sa.select(WebhookDelivery.endpoint_id, sa.func.max(WebhookDelivery.ticket_event_id))
        .where(
            WebhookDelivery.ticket_id == ticket.id,
            WebhookDelivery.endpoint_id.in_(list(floors)),
        )
        .group_by(WebhookDelivery.endpoint_id)
    )
    for endpoint_id, last_event_id in covered:
        floors[endpoint_id] = max(floors[endpoint_id], last_event_id or 0)
    events = list(
        db.session.scalars(
            sa.select(TicketEvent)
            .where(
                TicketEvent.ticket_id == ticket.id,
                TicketEvent.id > min(floors.values()),
                TicketEvent.at >= now - REPLAY_HORIZON,
            )
            .order_by(TicketEvent.id)
            .limit(MAX_EVENTS_PER_CHANGE)
        )
    )
    if not events:
        return []
    payloads = _PayloadCache(ticket, now)
    queued = []
    for endpoint in endpoints:
        fresh = [event for event in events if event.id > floors[endpoint.id]]
        if not fresh:
            continue
        newest = fresh[-1].id
        for name, bundle in group_events(fresh):
            if not is_subscribed(endpoint, name):
                continue
            delivery = _new_delivery(endpoint, name, now, ticket_id=ticket.id)
            delivery.ticket_event_id = newest
            delivery.payload = payloads.payload(delivery.delivery_id, name, bundle)
            queued.append(delivery)
    if queued:
        db.session.flush()
    return queued


def announce_recorded_events(*, now: datetime, batch: int = 1000) -> int:
    """Queue webhooks for events that were recorded without `ticket_changed` (catch-up).

    The SLA and escalation sweeps insert their events set-based, so no per-ticket call
    announces them. This pass walks the event log by id and hands every ticket with
    announceable new events to `ticket_event`, which skips what was already queued. It only
    goes up to the newest id seen at its previous run: ids are taken at insert time, not at
    commit, and the delay gives a slower transaction's lower id time to become visible.
    Return how many tickets it looked at.
    """
    state = db.session.scalar(
        sa.select(SweepState).where(SweepState.name == CATCH_UP_STATE).with_for_update()
    )
    newest = latest_event_id()
    if state is None:
        # First run: history before it was either announced already or predates webhooks.
        db.session.add(
            SweepState(
                name=CATCH_UP_STATE, last_swept_at=now, last_event_id=newest, high_event_id=newest
            )
        )
        db.session.flush()
        return 0
    done = state.last_event_id or 0
    upper = state.high_event_id if state.high_event_id is not None else newest
    rows = list(
        db.session.execute(
            sa.select(TicketEvent.id, TicketEvent.ticket_id, TicketEvent.type)
            .where(TicketEvent.id > done, TicketEvent.id <= upper)
            .order_by(TicketEvent.id)
            .limit(batch)
        )
    )
    ticket_ids = sorted({ticket_id for _id, ticket_id, type_ in rows if webhook_event_for(type_)})
    has_endpoints = db.session.scalar(
        sa.select(sa.func.count(WebhookEndpoint.id)).where(WebhookEndpoint.is_active)
    )
    if has_endpoints:
        for ticket_id in ticket_ids:
            ticket = db.session.get(Ticket, ticket_id)
            if ticket is not None:
                ticket_event(ticket, "catch-up", now=now)
    if len(rows) < batch:
        state.last_event_id = upper
        state.high_event_id = newest
    else:
        state.last_event_id = rows[-1][0]
    state.last_swept_at = now
    db.session.flush()
    return len(ticket_ids) if has_endpoints else 0


class _PayloadCache:
    """Build each webhook's data once, however many endpoints receive it."""

    def __init__(self, ticket: Ticket, now: datetime) -> None:
        self.ticket = ticket
        self.now = now
        self._ticket_data: dict[str, Any] | None = None
        self._clocks: list[dict[str, Any]] | None = None
        self._data: dict[tuple[str, tuple[int, ...]], dict[str, Any]] = {}

    def payload(self, delivery_id: str, name: str, events: list[TicketEvent]) -> dict[str, Any]:
        key = (name, tuple(event.id for event in events))
        if key not in self._data:
            self._data[key] = self._build(name, events)
        return {
            "id": delivery_id,
            "event": name,
            "created_at": format_utc(self.now),
            "data": self._data[key],
        }

    def _build(self, name: str, events: list[TicketEvent]) -> dict[str, Any]:
        if self._ticket_data is None:
            self._ticket_data = _ticket_summary.dump(self.ticket)
        message = None
        if name in ("message.received", "ticket.created"):
            message_id = next((e.message_id for e in events if e.message_id), None)
            if message_id is None and name == "ticket.created":
                message_id = _first_inbound_message_id(self.ticket)
            found = db.session.get(Message, message_id) if message_id else None
            message = _message_dump.dump(found) if found is not None else None
        clocks: list[dict[str, Any]] = []
        if name.startswith("sla.") or name == "ticket.escalated":
            if self._clocks is None:
                self._clocks = _clocks_dump.dump(self.ticket.clocks)
            clocks = self._clocks
        return {
            "ticket": self._ticket_data,
            "changes": _events_dump.dump(events),
            "message": message,
            "clocks": clocks,
        }


def _first_inbound_message_id(ticket: Ticket) -> int | None:
    return db.session.scalar(
        sa.select(Message.id)
        .where(Message.ticket_id == ticket.id, Message.direction == Direction.inbound)
        .order_by(Message.created_at, Message.id)
        .limit(1)
    )


def is_subscribed(endpoint: WebhookEndpoint, event: str) -> bool:
    """Whether the endpoint wants the event (no subscriptions means every event)."""
    if event == PING_EVENT:
        return True
    return not endpoint.events or event in endpoint.events


def _new_delivery(
    endpoint: WebhookEndpoint, event: str, now: datetime, *, ticket_id: int | None
) -> WebhookDelivery:
    delivery = WebhookDelivery(
        endpoint_id=endpoint.id,
        delivery_id=new_delivery_id(),
        event=event,
        payload={},
        status="pending",
        attempts=0,
        next_attempt_at=now,
        created_at=now,
        ticket_id=ticket_id,
    )
    db.session.add(delivery)
    return delivery


def new_delivery_id() -> str:
    return f"whd_{secrets.token_hex(16)}"


def new_secret() -> str:
    return f"whsec_{secrets.token_urlsafe(32)}"


def latest_event_id() -> int:
    """The id of the newest ticket event: an endpoint starts after it."""
    return db.session.scalar(sa.select(sa.func.max(TicketEvent.id))) or 0


def clean_url(url: str) -> str:
    """Check a receiver URL: http or https, with a host, no fragment."""
    url = (url or "").strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookError("the URL must start with https:// (or http://) and name a host")
    if parts.fragment:
        raise WebhookError("the URL may not have a #fragment")
    if len(url) > 1000:
        raise WebhookError("the URL is longer than 1000 characters")
    return url


def clean_events(events: Iterable[str]) -> list[str]:
    chosen = sorted(set(events))
    unknown = [name for name in chosen if name not in WEBHOOK_EVENTS]
    if unknown:
        raise WebhookError(f"unknown events: {', '.join(unknown)}")
    return chosen


def create_endpoint(
    *, url: str, events: Iterable[str], description: str = "", actor: User | None, now: datetime
) -> WebhookEndpoint:
    """Add a receiver; it gets events recorded from now on, never earlier ones."""
    endpoint = WebhookEndpoint(
        url=clean_url(url),
        secret=new_secret(),
        events=clean_events(events),
        description=description.strip()[:200],
        is_active=True,
        created_at=now,
        updated_at=now,
        created_by_id=actor.id if actor is not None else None,
        starts_after_event_id=latest_event_id(),
    )
    db.session.add(endpoint)
    db.session.flush()
    return endpoint


def update_endpoint(
    endpoint: WebhookEndpoint,
    *,
    url: str,
    events: Iterable[str],
    description: str,
    is_active: bool,
    now: datetime,
) -> None:
    """Change a receiver; switching it on or subscribing to more events never replays history."""
    chosen = clean_events(events)
    widened = bool(endpoint.events) and (not chosen or not set(chosen) <= set(endpoint.events))
    if (is_active and not endpoint.is_active) or widened:
        endpoint.starts_after_event_id = latest_event_id()
    if is_active:
        endpoint.disabled_reason = None
    endpoint.url = clean_url(url)
    endpoint.events = chosen
    endpoint.description = description.strip()[:200]
    endpoint.is_active = is_active
    endpoint.updated_at = now


def rotate_secret(endpoint: WebhookEndpoint, *, now: datetime) -> str:
    """Give the endpoint a new signing secret; deliveries from now on are signed with it."""
    endpoint.secret = new_secret()
    endpoint.updated_at = now
    return endpoint.secret


def delete_endpoint(endpoint: WebhookEndpoint) -> None:
    """Remove a receiver with its delivery log."""
    db.session.execute(
        sa.delete(WebhookAttempt).where(
            WebhookAttempt.webhook_delivery_id.in_(
                sa.select(WebhookDelivery.id).where(WebhookDelivery.endpoint_id == endpoint.id)
            )
        )
    )
    db.session.execute(sa.delete(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id))
    db.session.delete(endpoint)


def queue_ping(endpoint: WebhookEndpoint, *, actor: User | None, now: datetime) -> WebhookDelivery:
    """Queue a `ping` to test the receiver and its signature check."""
    delivery = _new_delivery(endpoint, PING_EVENT, now, ticket_id=None)
    delivery.payload = {
        "id": delivery.delivery_id,
        "event": PING_EVENT,
        "created_at": format_utc(now),
        "data": {"ticket": None, "changes": [], "message": None, "clocks": []},
    }
    db.session.flush()
    return delivery


def redeliver(delivery: WebhookDelivery, *, now: datetime) -> None:
    """Send a delivery again soon with a fresh round of retries (an admin's decision)."""
    delivery.status = "pending"
    delivery.attempts = 0
    delivery.next_attempt_at = now
    delivery.locked_until = None


def claim_due(now: datetime, *, limit: int = 100) -> list[int]:
    """Claim up to `limit` due deliveries of active endpoints for this worker.

    Rows locked by another worker are skipped on PostgreSQL; SQLite serialises writers. The
    claim is a lease, so the rows of a worker that died are taken over when it expires.
    """
    active = sa.select(WebhookEndpoint.id).where(WebhookEndpoint.is_active)
    due = (
        sa.select(WebhookDelivery.id)
        .where(
            WebhookDelivery.status == "pending",
            WebhookDelivery.next_attempt_at <= now,
            sa.or_(WebhookDelivery.locked_until.is_(None), WebhookDelivery.locked_until < now),
            WebhookDelivery.endpoint_id.in_(active),
        )
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    ids = list(db.session.scalars(due))
    if ids:
        db.session.execute(
            sa.update(WebhookDelivery)
            .where(WebhookDelivery.id.in_(ids))
            .values(locked_until=now + CLAIM_LEASE)
        )
    return ids


def record_attempt(
    delivery: WebhookDelivery, result: AttemptResult, *, now: datetime, max_attempts: int
) -> None:
    """Log one attempt and decide: delivered, retry later (with backoff), or give up."""
    number = 1 + (
        db.session.scalar(
            sa.select(sa.func.count(WebhookAttempt.id)).where(
                WebhookAttempt.webhook_delivery_id == delivery.id
            )
        )
        or 0
    )
    db.session.add(
        WebhookAttempt(
            webhook_delivery_id=delivery.id,
            number=number,
            attempted_at=now,
            status_code=result.status_code,
            error=(result.error or None) and result.error[:1000],
            duration_ms=result.duration_ms,
            response_excerpt=result.response_excerpt,
        )
    )
    delivery.attempts += 1
    delivery.locked_until = None
    delivery.last_status_code = result.status_code
    if result.succeeded:
        delivery.status = "delivered"
        delivery.delivered_at = now
        delivery.last_error = None
        return
    delivery.last_error = result.error or f"HTTP {result.status_code}"
    if result.endpoint_gone:
        delivery.status = "failed"
        endpoint = db.session.get(WebhookEndpoint, delivery.endpoint_id)
        if endpoint is not None:
            endpoint.is_active = False
            endpoint.disabled_reason = (
                f"the receiver answered 410 Gone at {format_utc(now)}; switched off"
            )
        return
    if delivery.attempts >= max_attempts:
        delivery.status = "failed"
    else:
        delivery.next_attempt_at = now + backoff(delivery.attempts)


def prune_deliveries(*, before: datetime, now: datetime, limit: int = 10_000) -> int:
    """Delete finished deliveries (and their attempt log) created before an instant.

    Raises:
        WebhookError: `before` is within MIN_LOG_DAYS of `now` (see REPLAY_HORIZON).
    """
    if before > now - timedelta(days=MIN_LOG_DAYS):
        raise WebhookError(f"the delivery log is kept at least {MIN_LOG_DAYS} days")
    ids = list(
        db.session.scalars(
            sa.select(WebhookDelivery.id)
            .where(
                WebhookDelivery.created_at < before,
                WebhookDelivery.status.in_(("delivered", "failed")),
            )
            .order_by(WebhookDelivery.id)
            .limit(limit)
        )
    )
    if ids:
        db.session.execute(
            sa.delete(WebhookAttempt).where(WebhookAttempt.webhook_delivery_id.in_(ids))
        )
        db.session.execute(sa.delete(WebhookDelivery).where(WebhookDelivery.id.in_(ids)))
    return len(ids)
