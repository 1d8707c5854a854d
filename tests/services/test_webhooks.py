"""Outbound webhooks: which ticket events become which webhooks, queueing, retries, catch-up."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from ticketing.models import (
    Priority,
    SlaClock,
    TicketEvent,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from ticketing.services import ticket_actions, webhooks
from ticketing.services.webhooks import AttemptResult, WebhookError


@pytest.fixture
def admin(make_user):
    return make_user("admin")


@pytest.fixture
def endpoint(db_session, admin, now):
    return webhooks.create_endpoint(
        url="https://hooks.example.org/complaints", events=[], actor=admin, now=now
    )


@pytest.fixture
def ticket(receive, make_contact):
    return receive(make_contact("Mijn bestelling is kapot aangekomen.")).ticket


def _deliveries(db_session, endpoint=None):
    query = sa.select(WebhookDelivery).order_by(WebhookDelivery.id)
    if endpoint is not None:
        query = query.where(WebhookDelivery.endpoint_id == endpoint.id)
    return list(db_session.scalars(query))


@pytest.mark.parametrize(
    ("event_type", "webhook"),
    [
        ("ticket.created", "ticket.created"),
        ("message.received", "message.received"),
        ("status.changed", "ticket.updated"),
        ("priority.changed", "ticket.updated"),
        ("assignment.changed", "ticket.updated"),
        ("tags.changed", "ticket.updated"),
        ("reply.sent", "ticket.updated"),
        ("note.added", "ticket.updated"),
        ("ticket.merged", "ticket.updated"),
        ("ticket.reopened", "ticket.updated"),
        ("sla.at_risk", "sla.at_risk"),
        ("sla.breached", "sla.breached"),
        ("sla.started", None),
        ("escalation.fired", "ticket.escalated"),
        ("acknowledgement.sent", None),
        ("repeat.detected", None),
        ("auto_reply.received", None),
    ],
)
def test_webhook_event_for_each_ticket_event(event_type, webhook):
    assert webhooks.webhook_event_for(event_type) == webhook


def test_group_events_bundles_updates_and_keeps_each_message():
    events = [
        TicketEvent(id=1, type="message.received"),
        TicketEvent(id=2, type="status.changed"),
        TicketEvent(id=3, type="message.received"),
        TicketEvent(id=4, type="priority.changed"),
        TicketEvent(id=5, type="acknowledgement.sent"),
        TicketEvent(id=6, type="message.received", data={"merged_from": "T-9"}),
        TicketEvent(id=7, type="ticket.merged", data={"merged_from": "T-9"}),
    ]
    groups = [(name, [e.id for e in bundle]) for name, bundle in webhooks.group_events(events)]
    assert groups == [
        ("message.received", [1]),
        ("ticket.updated", [2, 4, 7]),
        ("message.received", [3]),
    ]


def test_new_ticket_queues_created_and_received_with_a_snapshot(
    db_session, endpoint, receive, make_contact
):
    ticket = receive(make_contact("Waar blijft mijn pakket?")).ticket
    deliveries = _deliveries(db_session, endpoint)
    assert [d.event for d in deliveries] == ["ticket.created", "message.received"]
    created = deliveries[0].payload
    assert created["event"] == "ticket.created"
    assert created["id"] == deliveries[0].delivery_id
    assert created["created_at"].endswith("Z")
    assert created["data"]["ticket"]["reference"] == ticket.reference
    assert created["data"]["message"]["text"] == "Waar blijft mijn pakket?"
    assert {d.ticket_id for d in deliveries} == {ticket.id}
    assert all(d.status == "pending" for d in deliveries)


def test_announcing_twice_queues_nothing_twice(db_session, endpoint, ticket, now):
    before = len(_deliveries(db_session))
    assert webhooks.ticket_event(ticket, "again", now=now) == []
    assert len(_deliveries(db_session)) == before


def test_subscriptions_and_inactive_endpoints(db_session, admin, now, receive, make_contact):
    only_updates = webhooks.create_endpoint(
        url="https://crm.example.org/hook", events=["ticket.updated"], actor=admin, now=now
    )
    switched_off = webhooks.create_endpoint(
        url="https://old.example.org/hook", events=[], actor=admin, now=now
    )
    switched_off.is_active = False
    ticket = receive(make_contact("Kapot")).ticket
    assert _deliveries(db_session, only_updates) == []
    ticket_actions.set_priority(ticket, Priority.high, actor=admin, now=now)
    assert [d.event for d in _deliveries(db_session, only_updates)] == ["ticket.updated"]
    changes = _deliveries(db_session, only_updates)[0].payload["data"]["changes"]
    assert [c["type"] for c in changes] == ["priority.changed"]
    assert _deliveries(db_session, switched_off) == []


def test_a_new_endpoint_never_receives_history(db_session, admin, ticket, now):
    later = webhooks.create_endpoint(
        url="https://late.example.org/hook", events=[], actor=admin, now=now
    )
    webhooks.ticket_event(ticket, "manual", now=now)
    assert _deliveries(db_session, later) == []
    ticket_actions.add_note(ticket, "Nieuw", actor=admin, now=now)
    assert [d.event for d in _deliveries(db_session, later)] == ["ticket.updated"]


def test_reactivating_or_widening_an_endpoint_skips_what_happened_meanwhile(
    db_session, admin, endpoint, ticket, now
):
    webhooks.update_endpoint(
        endpoint, url=endpoint.url, events=["sla.breached"], description="", is_active=False,
        now=now,
    )
    ticket_actions.add_note(ticket, "Terwijl uit", actor=admin, now=now)
    count = len(_deliveries(db_session, endpoint))
    webhooks.update_endpoint(
        endpoint, url=endpoint.url, events=[], description="", is_active=True, now=now
    )
    webhooks.ticket_event(ticket, "manual", now=now)
    assert len(_deliveries(db_session, endpoint)) == count


@pytest.mark.parametrize(
    "url", ["ftp://example.org/x", "example.org/hook", "https://", "https://x.org/#frag"]
)
def test_endpoint_urls_must_be_http_with_a_host(admin, now, db_session, url):
    with pytest.raises(WebhookError):
        webhooks.create_endpoint(url=url, events=[], actor=admin, now=now)


def test_unknown_event_names_are_refused(admin, now, db_session):
    with pytest.raises(WebhookError, match="unknown events"):
        webhooks.create_endpoint(
            url="https://x.example.org", events=["ticket.deleted"], actor=admin, now=now
        )


def test_record_attempt_success_retry_and_give_up(db_session, endpoint, ticket, now):
    first, second = _deliveries(db_session, endpoint)
    webhooks.record_attempt(first, AttemptResult(204, 12), now=now, max_attempts=3)
    assert first.status == "delivered"
    assert first.delivered_at == now
    for number in range(1, 4):
        webhooks.record_attempt(
            second, AttemptResult(500, 5, error="HTTP 500"), now=now, max_attempts=3
        )
        if number < 3:
            assert second.status == "pending"
            # about 1, 2 minutes with +-20 % jitter
            wait = second.next_attempt_at - now
            assert timedelta(minutes=0.8 * 2 ** (number - 1)) <= wait
            assert wait <= timedelta(minutes=1.2 * 2 ** (number - 1))
    assert second.status == "failed"
    log = list(db_session.scalars(
        sa.select(WebhookAttempt.number).where(WebhookAttempt.webhook_delivery_id == second.id)
        .order_by(WebhookAttempt.id)
    ))
    assert log == [1, 2, 3]
    webhooks.redeliver(second, now=now)
    assert second.status == "pending"
    assert second.attempts == 0
    webhooks.record_attempt(second, AttemptResult(200), now=now, max_attempts=3)
    assert db_session.scalar(
        sa.select(sa.func.max(WebhookAttempt.number))
        .where(WebhookAttempt.webhook_delivery_id == second.id)
    ) == 4


def test_gone_switches_the_endpoint_off(db_session, endpoint, ticket, now):
    delivery = _deliveries(db_session, endpoint)[0]
    webhooks.record_attempt(delivery, AttemptResult(410), now=now, max_attempts=10)
    assert delivery.status == "failed"
    assert endpoint.is_active is False
    assert "410" in endpoint.disabled_reason


def test_claim_due_takes_due_rows_of_active_endpoints_once(db_session, endpoint, ticket, now):
    deliveries = _deliveries(db_session, endpoint)
    deliveries[1].next_attempt_at = now + timedelta(minutes=5)
    db_session.flush()
    assert webhooks.claim_due(now) == [deliveries[0].id]
    assert webhooks.claim_due(now) == []  # leased
    assert webhooks.claim_due(now + webhooks.CLAIM_LEASE + timedelta(seconds=1)) == [
        d.id for d in deliveries
    ]
    endpoint.is_active = False
    db_session.flush()
    assert webhooks.claim_due(now + timedelta(hours=1)) == []


def test_catch_up_announces_events_recorded_by_sweeps(db_session, endpoint, ticket, now):
    webhooks.announce_recorded_events(now=now)  # first run: starts at the present
    db_session.add(
        TicketEvent(
            ticket_id=ticket.id, at=now, type="sla.breached", dedup_key="first_response:1",
            data={"metric": "first_response", "cycle": 1},
        )
    )
    db_session.add(
        SlaClock(ticket_id=ticket.id, metric="resolution", cycle=9, state="breached",
                 priority="normal", started_at=now)
    )
    db_session.flush()
    # The run after the event appears only notes how far the log reaches ...
    webhooks.announce_recorded_events(now=now)
    assert "sla.breached" not in [d.event for d in _deliveries(db_session, endpoint)]
    # ... and the next one announces it, once.
    webhooks.announce_recorded_events(now=now + timedelta(minutes=1))
    webhooks.announce_recorded_events(now=now + timedelta(minutes=2))
    breached = [d for d in _deliveries(db_session, endpoint) if d.event == "sla.breached"]
    assert len(breached) == 1
    data = breached[0].payload["data"]
    assert data["changes"][0]["data"]["metric"] == "first_response"
    assert any(clock["cycle"] == 9 for clock in data["clocks"])


def test_ping_and_prune(db_session, endpoint, admin, now):
    ping = webhooks.queue_ping(endpoint, actor=admin, now=now)
    assert ping.payload["event"] == "ping"
    assert ping.ticket_id is None
    webhooks.record_attempt(ping, AttemptResult(200), now=now, max_attempts=3)
    later = now + timedelta(days=30)
    assert webhooks.prune_deliveries(before=now, now=later) == 0
    assert webhooks.prune_deliveries(before=now + timedelta(seconds=1), now=later) == 1
    assert db_session.scalar(sa.select(sa.func.count(WebhookAttempt.id))) == 0
    with pytest.raises(WebhookError):
        webhooks.prune_deliveries(before=later - timedelta(days=1), now=later)


def test_a_pruned_log_never_makes_a_ticket_replay_its_history(
    db_session, endpoint, ticket, admin, now
):
    for delivery in _deliveries(db_session, endpoint):
        webhooks.record_attempt(delivery, AttemptResult(200), now=now, max_attempts=3)
    later = now + timedelta(days=40)
    assert webhooks.prune_deliveries(before=later - timedelta(days=30), now=later) == 2
    ticket_actions.add_note(ticket, "Veel later", actor=admin, now=later)
    (update,) = _deliveries(db_session, endpoint)
    assert [c["type"] for c in update.payload["data"]["changes"]] == ["note.added"]


def test_deleting_an_endpoint_removes_its_log(db_session, endpoint, ticket, now):
    delivery = _deliveries(db_session, endpoint)[0]
    webhooks.record_attempt(delivery, AttemptResult(500), now=now, max_attempts=3)
    webhooks.delete_endpoint(endpoint)
    db_session.flush()
    assert db_session.scalar(sa.select(sa.func.count(WebhookEndpoint.id))) == 0
    assert _deliveries(db_session) == []


def test_a_merge_is_one_update_and_never_repeats_the_messages(
    db_session, admin, endpoint, receive, make_contact, now
):
    first = receive(make_contact("Eerste klacht", sender="een@example.nl")).ticket
    second = receive(
        make_contact("Andere klacht over iets anders", sender="een@example.nl",
                     at=now + timedelta(minutes=1))
    ).ticket
    if second.id == first.id:
        pytest.skip("intake appended the second contact; nothing to merge")
    before = {d.id for d in _deliveries(db_session, endpoint)}
    ticket_actions.merge_tickets(second, first, actor=admin, now=now + timedelta(minutes=2))
    new = [d for d in _deliveries(db_session, endpoint) if d.id not in before]
    assert sorted((d.ticket_id, d.event) for d in new) == sorted(
        [(first.id, "ticket.updated"), (second.id, "ticket.updated")]
    )
