"""Webhook delivery: signed POSTs to a local receiver, retries, refusals, the CLI."""

from __future__ import annotations

import json
import socket
from datetime import timedelta

import pytest
import sqlalchemy as sa

from tests.support.api_client import webhook_receiver  # noqa: F401 - fixture
from ticketing.clock import utcnow
from ticketing.models import WebhookAttempt, WebhookDelivery
from ticketing.services import webhooks
from ticketing.webhook_delivery import (
    deliver_due,
    encode_body,
    sign,
    verify_signature,
    webhooks_group,
)


@pytest.fixture
def admin(make_user):
    return make_user("admin")


@pytest.fixture
def endpoint(db_session, admin, webhook_receiver):  # noqa: F811
    endpoint = webhooks.create_endpoint(
        url=webhook_receiver.url, events=[], actor=admin, now=utcnow()
    )
    webhook_receiver.secret = endpoint.secret
    db_session.flush()
    return endpoint


@pytest.fixture
def ticket(receive, make_contact):
    return receive(make_contact("De koelkast koelt niet.")).ticket


def _deliveries(db_session):
    return list(db_session.scalars(sa.select(WebhookDelivery).order_by(WebhookDelivery.id)))


# --- delivery ----------------------------------------------------------------------------------


def test_deliveries_are_signed_posts_the_receiver_can_verify(
    app, db_session, endpoint, ticket, webhook_receiver  # noqa: F811
):
    summary = deliver_due(utcnow())
    assert summary == {"delivered": 2, "retrying": 0, "failed": 0}
    assert [hook.signature_ok for hook in webhook_receiver.received] == [True, True]
    first = webhook_receiver.received[0]
    assert first.headers["X-Complaints-Event"] == "ticket.created"
    assert first.headers["Content-Type"].startswith("application/json")
    assert first.json["id"] == first.headers["X-Complaints-Delivery"]
    assert first.json["data"]["ticket"]["reference"] == ticket.reference
    for delivery in _deliveries(db_session):
        assert delivery.status == "delivered"
        assert delivery.last_status_code == 200
    attempt = db_session.scalar(sa.select(WebhookAttempt).limit(1))
    assert attempt.status_code == 200
    assert json.loads(attempt.response_excerpt) == {"status": 200}


def test_a_failing_receiver_gets_the_same_delivery_again_after_a_backoff(
    app, db_session, endpoint, ticket, webhook_receiver  # noqa: F811
):
    webhook_receiver.fail_next(503)
    now = utcnow()
    assert deliver_due(now, limit=1) == {"delivered": 0, "retrying": 1, "failed": 0}
    delivery = _deliveries(db_session)[0]
    assert delivery.status == "pending"
    assert delivery.next_attempt_at > now
    assert delivery.last_error.startswith("HTTP 503")
    # Not due yet: only the second delivery goes.
    deliver_due(utcnow())
    assert delivery.status == "pending"
    deliver_due(delivery.next_attempt_at + timedelta(seconds=1))
    assert delivery.status == "delivered"
    tries = [h for h in webhook_receiver.received if h.json["id"] == delivery.delivery_id]
    assert len(tries) == 2
    assert tries[0].body == tries[1].body
    assert all(h.signature_ok for h in tries)


def test_redirects_are_not_followed(app, db_session, endpoint, ticket, webhook_receiver):  # noqa: F811
    webhook_receiver.redirect_to = "http://127.0.0.1:9/elsewhere"
    webhook_receiver.fail_next(302)
    deliver_due(utcnow(), limit=1)
    delivery = _deliveries(db_session)[0]
    assert delivery.status == "pending"
    assert delivery.last_status_code == 302
    assert "redirects are not followed" in delivery.last_error
    assert len(webhook_receiver.received) == 1


def test_an_unreachable_receiver_is_logged_and_retried(app, db_session, admin):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    endpoint = webhooks.create_endpoint(
        url=f"http://127.0.0.1:{closed_port}/hook", events=[], actor=admin, now=utcnow()
    )
    webhooks.queue_ping(endpoint, actor=admin, now=utcnow())
    db_session.flush()
    app.config["WEBHOOK_TIMEOUT_SECONDS"] = 2
    try:
        summary = deliver_due(utcnow())
    finally:
        app.config.pop("WEBHOOK_TIMEOUT_SECONDS")
    assert summary == {"delivered": 0, "retrying": 1, "failed": 0}
    attempt = db_session.scalar(sa.select(WebhookAttempt).limit(1))
    assert attempt.status_code is None
    assert attempt.error.startswith("connection failed")


def test_verify_signature_refuses_tampering_and_old_timestamps():
    now = utcnow()
    body = encode_body({"id": "whd_1", "event": "ping"})
    stamp = int(now.timestamp())
    header = f"t={stamp},v1={sign('whsec_x', stamp, body)}"
    assert verify_signature(header, body, "whsec_x", now=now)
    assert not verify_signature(header, body + b" ", "whsec_x", now=now)
    assert not verify_signature(header, body, "whsec_y", now=now)
    assert not verify_signature(header, body, "whsec_x", now=now + timedelta(minutes=6))
    assert not verify_signature("v1=abc", body, "whsec_x", now=now)
    rotated = f"t={stamp},v1={'0' * 64},v1={sign('whsec_x', stamp, body)}"
    assert verify_signature(rotated, body, "whsec_x", now=now)


def test_cli_delivers(app, runner, endpoint, ticket, webhook_receiver):  # noqa: F811
    result = runner.invoke(webhooks_group, ["deliver"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["delivered"] == 2
