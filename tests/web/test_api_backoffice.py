"""Back-office integration pages: personal API tokens and the admins' webhook endpoints."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.support.api_client import webhook_receiver  # noqa: F401 - fixture
from ticketing.clock import utcnow
from ticketing.models import ApiToken, WebhookDelivery, WebhookEndpoint
from ticketing.services import webhooks
from ticketing.webhook_delivery import deliver_due


@pytest.fixture
def admin(make_user):
    return make_user("admin")


# --- back office: tokens ---------------------------------------------------------------------


def test_a_user_creates_a_token_sees_it_once_and_revokes_it(
    client, login, make_user, db_session
):
    agent = make_user("agent")
    login(agent)
    assert client.get("/settings/integrations/").status_code == 200
    response = client.post("/settings/integrations/tokens", data={"name": "webshop"})
    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store"
    page = response.get_data(as_text=True)
    token = db_session.scalar(sa.select(ApiToken).where(ApiToken.user_id == agent.id))
    secret = page.split('id="secret" readonly value="', 1)[1].split('"', 1)[0]
    assert secret.startswith(token.prefix)
    assert token.token_hash != secret
    auth = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/v1/sla-policies", headers=auth).status_code == 200
    listing = client.get("/settings/integrations/").get_data(as_text=True)
    assert "webshop" in listing
    assert secret not in listing
    client.post(f"/settings/integrations/tokens/{token.id}/revoke")
    assert client.get("/api/v1/sla-policies", headers=auth).status_code == 401


def test_only_admins_revoke_other_peoples_tokens(client, login, make_user, db_session, now):
    from ticketing.services.accounts import create_api_token

    owner = make_user("agent")
    token, _secret = create_api_token(owner, "crm", now=now)
    db_session.flush()
    login(make_user("agent"))
    assert client.post(f"/settings/integrations/tokens/{token.id}/revoke").status_code == 403
    assert token.revoked_at is None
    client.post("/logout")
    login(make_user("admin"))
    assert "crm" in client.get("/settings/integrations/").get_data(as_text=True)
    client.post(f"/settings/integrations/tokens/{token.id}/revoke")
    db_session.refresh(token)
    assert token.revoked_at is not None


# --- back office: webhooks ---------------------------------------------------------------------


def test_webhook_pages_are_for_admins(client, login, make_user):
    login(make_user("supervisor"))
    assert client.get("/settings/integrations/webhooks/new").status_code == 403


def test_admin_adds_pings_and_reads_the_log_of_a_webhook(
    app, client, login, admin, db_session, webhook_receiver  # noqa: F811
):
    login(admin)
    response = client.post(
        "/settings/integrations/webhooks/new",
        data={"url": webhook_receiver.url, "description": "CRM", "events": ["ticket.created"],
              "is_active": "y"},
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    endpoint = db_session.scalar(sa.select(WebhookEndpoint))
    assert endpoint.events == ["ticket.created"]
    page = client.get(response.headers["Location"])
    assert page.headers["Cache-Control"] == "no-store"
    assert endpoint.secret in page.get_data(as_text=True)
    webhook_receiver.secret = endpoint.secret
    client.post(f"/settings/integrations/webhooks/{endpoint.id}/ping")
    deliver_due(utcnow())
    assert webhook_receiver.received[0].headers["X-Complaints-Event"] == "ping"
    assert webhook_receiver.received[0].signature_ok
    ping = db_session.scalar(sa.select(WebhookDelivery))
    log = client.get(f"/settings/integrations/webhooks/{endpoint.id}").get_data(as_text=True)
    assert "ping" in log
    assert "delivered" in log
    detail = client.get(f"/settings/integrations/webhooks/{endpoint.id}/deliveries/{ping.id}")
    assert "HTTP 200" in detail.get_data(as_text=True)
    client.post(f"/settings/integrations/webhooks/{endpoint.id}/deliveries/{ping.id}/redeliver")
    db_session.refresh(ping)
    assert ping.status == "pending"


def test_admin_edits_rotates_and_deletes_a_webhook(client, login, admin, db_session, now):
    endpoint = webhooks.create_endpoint(
        url="https://crm.example.org/hook", events=[], actor=admin, now=now
    )
    db_session.flush()
    old_secret = endpoint.secret
    login(admin)
    client.post(
        f"/settings/integrations/webhooks/{endpoint.id}",
        data={"url": "https://crm.example.org/v2/hook", "description": "", "events": []},
    )
    db_session.refresh(endpoint)
    assert endpoint.url == "https://crm.example.org/v2/hook"
    assert endpoint.is_active is False  # the box was not ticked
    client.post(f"/settings/integrations/webhooks/{endpoint.id}/rotate")
    db_session.refresh(endpoint)
    assert endpoint.secret != old_secret
    bad = client.post(
        "/settings/integrations/webhooks/new", data={"url": "ftp://example.org/x"}
    )
    assert bad.status_code == 422
    client.post(f"/settings/integrations/webhooks/{endpoint.id}/delete")
    assert db_session.scalar(sa.select(sa.func.count(WebhookEndpoint.id))) == 0
